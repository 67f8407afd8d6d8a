//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory, the
//! server on a random loopback port with password authentication, and one fresh database
//! per test. Started once per test process, when the first test asks for it, and stopped
//! when the process ends (a watchdog shell holds the server until the test process's pipe
//! closes). `initdb` refuses to run as root, so as root the cluster runs as `nobody`.
//!
//! `QRLOGIN_TEST_STORE=postgres` makes every `Env` use it (`.ci/run` runs the whole
//! integration suite that way a second time); `Env::postgres()` asks for it in any run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Cluster {
    pub port: u16,
    pub password: String,
    bin: PathBuf,
    /// Held open: the watchdog stops the server when it closes (at process exit).
    _watchdog: std::sync::Mutex<(std::process::Child, std::process::ChildStdin)>,
}

/// Whether the whole suite runs on PostgreSQL.
pub fn wanted() -> bool {
    std::env::var("QRLOGIN_TEST_STORE").as_deref() == Ok("postgres")
}

pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start)
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|b| b.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)",
    )
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…`, as `nobody` when running as root.
fn command(program: &Path) -> Command {
    if as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Cluster {
    use std::os::unix::fs::PermissionsExt;
    let bin = bin_dir();
    let root = std::env::temp_dir().join(format!("qrlogin-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // Made by the server's user (nobody, as root), which owns its directories and must be
    // able to remove this one at the end: in /tmp (sticky) only a directory's owner can.
    let made = command(Path::new("mkdir")).arg(&root).status().unwrap();
    assert!(made.success(), "could not make {}", root.display());
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let password = format!("pw-{}", std::process::id());
    let pwfile = root.join("pw");
    std::fs::write(&pwfile, &password).unwrap();
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let data = root.join("data");
    let out = command(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args([
            "-U",
            "qrlogin",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    // The watchdog: the server runs until this process's end closes the shell's stdin.
    let postgres = bin.join("postgres");
    let mut server = command(Path::new("/bin/sh"));
    server
        .arg("-c")
        .arg(
            "\"$0\" -D \"$1\" -p \"$2\" -k \"$3\" -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
             -c shared_buffers=64MB >\"$3/log\" 2>&1 & pid=$!; read _; kill -INT $pid; wait $pid; \
             rm -rf \"$3\"",
        )
        .arg(&postgres)
        .arg(&data)
        .arg(port.to_string())
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = server.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let cluster = Cluster {
        port,
        password,
        bin,
        _watchdog: std::sync::Mutex::new((child, stdin)),
    };
    for _ in 0..200 {
        let ok = Command::new(cluster.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return cluster;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(root.join("log")).unwrap_or_default();
    panic!("the test PostgreSQL server did not start: {log}");
}

impl Cluster {
    /// A new empty database; its URL (password included).
    pub fn database(&self) -> String {
        let name = format!("t_{:016x}", rand::random::<u64>());
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://qrlogin:{}@127.0.0.1:{}/{db}?sslmode=disable",
            self.password, self.port
        )
    }

    /// Run SQL in `db` as the superuser; returns psql's unaligned output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let mut child = self
            .client("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One of the cluster's client programs, connected as the superuser.
    /// Run `sql` in `db` in the background (a transaction holding locks, say).
    pub fn hold(&self, db: &str, sql: &str) -> std::process::Child {
        self.client("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "qrlogin",
        ])
        .env("PGPASSWORD", &self.password);
        c
    }

    /// `pg_dump` of a database, as text.
    pub fn dump(&self, db: &str) -> Vec<u8> {
        let out = self.client("pg_dump").arg(db).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // pg_dump brackets its output with a random `\restrict` key: not data.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
    }
}

/// The database name in a URL this cluster made.
pub fn db_name(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default().to_owned()
}
