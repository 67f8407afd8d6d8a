//! doctor's network checks: every configured host resolves, connects (TLS included) and
//! answers, and the local clock agrees with the server's `Date`.

use super::*;

/// Each configured host: resolves, connects (TLS included), answers; and the clock
/// against the first `Date` header.
pub(super) async fn network(
    globals: &Globals,
    trace: Option<&crate::passport::Trace>,
) -> Vec<Check> {
    let e = &globals.endpoints;
    let mut seen = BTreeSet::new();
    let mut checks = Vec::new();
    let mut skew: Option<i64> = None;
    // The same builder as a login's, so --resolve and QRLOGIN_CA_FILE are what is tested.
    let built = crate::passport::client_builder(e, None, Duration::from_secs(10))
        .map_err(|err| err.to_string())
        .and_then(|b| {
            b.connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(globals.user_agent.clone())
                .build()
                .map_err(|err| crate::passport::root_cause(&err))
        });
    let http = match built {
        Ok(c) => c,
        Err(err) => {
            return vec![check(
                Level::Fail,
                "network",
                format!("cannot build an HTTP client: {err}"),
                None,
                Code::Network,
            )];
        }
    };
    for (role, url) in [
        ("passport", &e.passport),
        ("h5api", &e.h5api),
        ("www", &e.www),
    ] {
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        if !seen.insert((host.clone(), port, url.scheme().to_owned())) {
            checks.push(check(
                Level::Ok,
                "network",
                format!("{role}: same host as above ({host}:{port})"),
                None,
                Code::Network,
            ));
            continue;
        }
        let overridden = e.resolved(&host);
        let resolved = !overridden.is_empty()
            || tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(|mut addrs| addrs.next().is_some())
                .unwrap_or(false);
        let via = match overridden.first() {
            Some(a) => format!(" (--resolve: {})", a.ip()),
            None => String::new(),
        };
        if !resolved {
            checks.push(check(
                Level::Fail,
                "network",
                format!("{role}: cannot resolve {host}"),
                Some("check DNS, or QRLOGIN_*_URL if you changed them"),
                Code::Network,
            ));
            continue;
        }
        let started = Instant::now();
        let sent_at = SystemTime::now();
        let sent = match http.get(url.clone()).build() {
            Ok(req) => {
                let entry = trace.map(|t| t.request(&req, None));
                let resp = http.execute(req).await;
                if let (Some(t), Some(i), Ok(r)) = (trace, entry, &resp) {
                    t.response(i, r, started.elapsed().as_secs_f64() * 1000.0);
                }
                resp
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(resp) => {
                let ms = started.elapsed().as_millis();
                if skew.is_none() {
                    skew = resp
                        .headers()
                        .get(reqwest::header::DATE)
                        .and_then(|d| d.to_str().ok())
                        .and_then(|d| httpdate::parse_http_date(d).ok())
                        .map(|server| local_ahead_by(sent_at, SystemTime::now(), server));
                }
                let tls = if url.scheme() == "https" {
                    ", TLS ok"
                } else {
                    ""
                };
                checks.push(check(
                    Level::Ok,
                    "network",
                    format!(
                        "{role}: {host}:{port}{via} answered HTTP {} in {ms} ms{tls}",
                        resp.status().as_u16()
                    ),
                    None,
                    Code::Network,
                ));
            }
            Err(err) => {
                let why = crate::passport::root_cause(&err.without_url());
                let hint = if why.contains("QRLOGIN_CA_FILE") {
                    "set QRLOGIN_CA_FILE to the PEM file of the CA that signed it"
                } else {
                    "check the network, a firewall, or HTTPS_PROXY"
                };
                checks.push(check(
                    Level::Fail,
                    "network",
                    format!("{role}: cannot connect to {host}:{port}{via} ({why})"),
                    Some(hint),
                    Code::Network,
                ));
            }
        }
    }
    if let Some(ca) = &e.extra_ca {
        checks.push(check(
            Level::Ok,
            "network",
            format!(
                "TLS: trusting {} certificate(s) from {} beside the system roots",
                ca.certificates,
                ca.path.display()
            ),
            None,
            Code::Network,
        ));
    }
    checks.push(match skew {
        None => check(
            Level::Warn,
            "clock",
            "no server Date header to compare with",
            None,
            Code::Network,
        ),
        Some(s) if s.abs() <= SKEW_WARN => check(
            Level::Ok,
            "clock",
            format!("local clock within {} s of the server's", s.abs()),
            None,
            Code::Network,
        ),
        Some(s) => check(
            if s.abs() > SKEW_FAIL {
                Level::Fail
            } else {
                Level::Warn
            },
            "clock",
            format!(
                "local clock is {} s {} the server's",
                s.abs(),
                if s > 0 { "ahead of" } else { "behind" }
            ),
            Some("mtop signatures carry timestamps: sync the clock (timedatectl set-ntp true)"),
            Code::Network,
        ),
    });
    checks
}

/// Local minus server, in seconds.
/// How many whole seconds the local clock is ahead of the server's (negative: behind).
///
/// The server wrote its `Date` somewhere between `sent` and `received` and cut it to the
/// second, so it is compared with the middle of that span plus half a second and rounded:
/// truncating instead read a true 60 s as 58 on a slow reply.
pub(super) fn local_ahead_by(sent: SystemTime, received: SystemTime, server: SystemTime) -> i64 {
    let secs = |t: SystemTime| match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    let local = (secs(sent) + secs(received)) / 2.0;
    (local - (secs(server) + 0.5)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_sign_and_rounding() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let s = Duration::from_secs;
        let mid = t + Duration::from_millis(500);
        assert_eq!(local_ahead_by(mid, mid, t - s(40)), 40);
        assert_eq!(local_ahead_by(mid, mid, t + s(40)), -40);
        // The server is 60 s ahead and wrote its Date at local 1000.99 s, cut to 1060 s;
        // the reply took 90 ms. Truncation read 58 s.
        let sent = t + Duration::from_millis(940);
        let received = t + Duration::from_millis(1030);
        assert_eq!(local_ahead_by(sent, received, t + s(60)), -60);
        // Written at local 1000.01 s, cut to 1060 s.
        let sent = t;
        let received = t + Duration::from_millis(30);
        assert_eq!(local_ahead_by(sent, received, t + s(60)), -60);
        let now = t + Duration::from_millis(300);
        assert_eq!(local_ahead_by(now, now, t), 0);
    }
}
