//! One short recipe per subcommand. Each takes resolved settings and the printer, and
//! returns the exit code for success or an error that `exit` maps.

mod add_account;
mod completions;
mod copy;
mod delete;
mod demo;
mod doctor;
mod export;
mod import;
mod key;
mod list;
mod pending;
mod refresh;
mod show;
mod simulate;

use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::settings::{Action, Globals};
use crate::store::{Account, Saved, Store};
use anyhow::Result;
pub(crate) use export::output_error;

pub fn run(globals: &Globals, action: Action, printer: &Printer) -> Result<Code> {
    match action {
        Action::AddAccount(cfg) => add_account::run(globals, &cfg, printer),
        Action::Refresh(cfg) => refresh::run(globals, &cfg, printer),
        Action::List { json } => match open_existing(globals)? {
            Some(store) => list::run(&store, json, printer),
            None => no_store_yet(globals, json, printer),
        },
        Action::Show { name, json } => show::run(&must_exist(globals)?, &name, json, printer),
        Action::Delete { names, yes } => delete::run(&must_exist(globals)?, &names, yes, printer),
        Action::Export {
            name,
            format,
            output,
        } => export::run(
            globals,
            &unlocked(globals, key::Need::Read, printer)?,
            &name,
            format,
            output.as_deref(),
            printer,
        ),
        Action::Import(source) => {
            let mut store = open(globals)?;
            key::unlock(globals, &mut store, key::Need::Write, printer)?;
            import::run(&store, &source, printer)
        }
        Action::Key(k) => key::run(globals, &k, printer),
        Action::Copy { to, replace } => copy::run(globals, &to, replace, printer),
        Action::Pending { json } => match open_existing(globals)? {
            Some(store) => pending::run(&store, json, printer),
            None => no_store_yet(globals, json, printer),
        },
        Action::Simulate {
            listen,
            ca_out,
            scenario,
        } => simulate::run(&listen, ca_out.as_deref(), scenario, printer),
        Action::Demo {
            manual,
            login,
            ignored_db,
            tmp,
        } => demo::run(globals, ignored_db.as_ref(), &tmp, manual, login, printer),
        Action::Completions(shell) => completions::run(shell, printer),
        Action::Doctor { env, trace } => doctor::run(globals, &env, trace.as_deref(), printer),
    }
}

pub(crate) fn open(globals: &Globals) -> Result<Store> {
    Ok(Store::open(&globals.db)?)
}

/// An existing store with the key attached, for a command that reads or writes values.
fn unlocked(globals: &Globals, need: key::Need, printer: &Printer) -> Result<Store> {
    let mut store = must_exist(globals)?;
    key::unlock(globals, &mut store, need, printer)?;
    Ok(store)
}

fn open_existing(globals: &Globals) -> Result<Option<Store>> {
    Ok(Store::open_existing(&globals.db)?)
}

/// The store for a command about stored accounts: one that does not exist has none of
/// them (exit 8), and is not created.
fn must_exist(globals: &Globals) -> Result<Store> {
    open_existing(globals)?.ok_or_else(|| {
        Coded::new(
            Code::NotFound,
            format!(
                "there is no account database at {} (nothing was created; check --db or QRLOGIN_DB)",
                globals.db
            ),
        )
        .into()
    })
}

/// `list`/`pending` before any account was stored: say so, create nothing.
fn no_store_yet(globals: &Globals, json: bool, printer: &Printer) -> Result<Code> {
    printer.info(&format!(
        "no account database at {} yet: `qrlogin add-account` or `qrlogin import` creates it (check --db or QRLOGIN_DB if you expected one)",
        globals.db
    ));
    if json {
        printer.data_line("[]")?;
    }
    Ok(Code::Success)
}

/// For `refresh`: one thread carries every account, which it can (a few hundred
/// microseconds of CPU each, mostly waiting), and no account's wake-up crosses threads.
/// On two workers, each of four processes refreshing 10,000 accounts switched threads
/// about 10,000 times instead of 4,000 and took a fifth more CPU. Blocking work goes to
/// `spawn_blocking`.
pub(crate) fn runtime_one_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A tokio runtime for the commands that talk HTTP. Two worker threads: the machine
/// this targets has two cores, and the work is I/O.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The line that says what a save did to which account, under which name.
/// `created` is the command's own wording for a new account; `rename_hint` is how the
/// command asks for a rename (`--name NAME --rename`, `NAME --rename`).
pub(crate) fn describe_save(
    a: &Account,
    saved: &Saved,
    created: &str,
    rename_hint: &str,
) -> String {
    let (name, unb, n) = (
        crate::escape::for_terminal(&a.name),
        &a.unb,
        a.cookies.len(),
    );
    match saved {
        Saved::Created => format!("{created} {name} ({unb}) with {n} cookies"),
        Saved::Updated => {
            format!("updated account {name} ({unb}) with {n} cookies; it keeps its name")
        }
        Saved::Renamed { from } => {
            format!("updated account {name} ({unb}) with {n} cookies; renamed from {from}")
        }
        Saved::KeptName { requested } => format!(
            "updated account {name} ({unb}) with {n} cookies; it keeps its stored name {name}, not `{requested}` (to rename it: {rename_hint})"
        ),
    }
}

/// Write a `--trace` file (HAR, redacted, 0600) and say where; a failure to write it is a
/// warning, never the run's outcome.
pub(crate) fn write_trace(
    trace: &crate::passport::Trace,
    path: &std::path::Path,
    printer: &Printer,
) {
    match trace.write(path) {
        Ok(()) => printer.info(&format!(
            "wrote the HTTP trace to {} (HAR 1.2; cookie values and tokens redacted)",
            path.display()
        )),
        Err(e) => printer.warn(&format!("cannot write the trace {}: {e}", path.display())),
    }
}

/// A name clash, with the way this command chooses another name (exit 2); any other store
/// error as it is.
pub(crate) fn name_hint(e: crate::store::StoreError, hint: &str) -> anyhow::Error {
    match e {
        crate::store::StoreError::NameTaken { .. } => Coded::usage(format!("{e}; {hint}")).into(),
        e => e.into(),
    }
}

/// `e` as what stopped a command of many writes after `done` (what it had stored), when it
/// is a store error: that error's own "nothing was changed" would say the opposite.
/// Anything else as it is.
pub(crate) fn stopped_part_way(e: anyhow::Error, done: String) -> anyhow::Error {
    match e.downcast::<crate::store::StoreError>() {
        Ok(e) => e.part_way(done).into(),
        Err(e) => e,
    }
}
