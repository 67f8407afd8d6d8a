//! What scripts parse, pinned: the `--json` events of add-account and the reports of
//! refresh and list (ports, paths and times filtered).

use crate::support::{Env, settings};
use qrlogin::sim::Scenario;
use qrlogin::store::Status;

#[test]
fn add_account_json_events() {
    let env = Env::with_plain_sim(Env::auto_phone(50, 50));
    let out = env
        .add_account(&["--json", "--name", "shop-1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    settings(&env).bind(|| insta::assert_snapshot!("add_account_json", text));
    // A login that fails still ends its stream with an `error` event.
    let env = Env::with_plain_sim(Scenario::default());
    let out = env
        .add_account(&["--json", "--timeout", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    settings(&env).bind(|| insta::assert_snapshot!("add_account_json_timeout", text));
}

#[test]
fn refresh_and_list_json_reports() {
    let env = Env::with_plain_sim(Scenario::default());
    let store = env.store();
    env.seed_account(&store, "2219000000001", "alive", true, Status::Unknown);
    drop(store);
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refresh = String::from_utf8(out.stdout).unwrap();
    let list = env.stdout_of(&["list", "--json"]);
    let show = env.stdout_of(&["show", "alive", "--json"]);
    settings(&env).bind(|| {
        insta::assert_snapshot!("refresh_json", refresh);
        insta::assert_snapshot!("list_json", list);
        insta::assert_snapshot!("show_json", show);
    });
}

/// The harness's own check: an unknown route is recorded (and would fail the test that
/// caused it when the simulator is dropped).
#[test]
fn the_simulator_reports_unknown_routes() {
    let env = Env::with_plain_sim(Scenario::default());
    let url = format!("{}/no/such/page", env.base());
    let status = env
        .rt
        .block_on(async { reqwest::get(url).await.unwrap().status() });
    assert_eq!(status.as_u16(), 404);
    let seen = env.sim.as_ref().unwrap().take_unexpected();
    assert_eq!(seen, ["no route for GET /no/such/page"]);
}
