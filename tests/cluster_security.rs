//! Clusters through a NATS server that wants credentials or TLS: real
//! `nats-server` processes started with `--user`/`--pass` or `--tls`, and
//! real `wactor run` hosts that must log in or check the server's
//! certificate before they see each other.

use std::path::Path;

use wactor_e2e::binary::{http_call, Host, NatsServer};
use wactor_e2e::proto::TestRequest;
use wactor_e2e::{dec, enc, guest};

/// A directory serving the testkit.
fn testkit_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(guest("testkit"), dir.path().join("testkit.wasm")).expect("copy the testkit");
    dir
}

/// Alpha's HTTP API calls the testkit on beta: the request and its answer
/// cross NATS.
fn echo_across(alpha: &mut Host, beta: &mut Host) {
    let url = alpha.ready_url();
    // Beta's testkit is loaded: a plain request to it is not dropped.
    beta.ready_url();
    let answer = http_call(&url, "testkit@beta", enc(&TestRequest::Echo(b"across".to_vec())))
        .expect("alpha calls beta's testkit");
    assert_eq!(dec::<Vec<u8>>(&answer), b"across");
}

/// Two hosts that see each other, then a call between them.
fn pair_works(mut alpha: Host, mut beta: Host) -> (Host, Host) {
    alpha.expect_line(&["node up", "node=beta"]);
    beta.expect_line(&["node up", "node=alpha"]);
    echo_across(&mut alpha, &mut beta);
    (alpha, beta)
}

/// A host given `args` cannot join: it says why with `parts` and exits.
fn refused(dir: &Path, args: &[&str], parts: &[&str]) -> String {
    let mut host = Host::start_with(dir, args);
    let line = host.expect_line(parts);
    assert!(!host.wait_exit().success(), "the host exits: {line}");
    line
}

#[test]
fn hosts_log_in_with_the_password_of_their_url_and_never_log_it() {
    let nats = NatsServer::start_with(&["--user", "wactor", "--pass", "s3cret"]);
    let port = nats.port();
    let good = format!("nats://wactor:s3cret@127.0.0.1:{port}");
    let dir = testkit_dir();
    // One host takes the URL from the command line, the other from the
    // environment.
    // The host's own log and the NATS client's at every level (the only
    // code that sees the URL; the compiler's trace would only slow the test
    // down), and every line the hosts wrote is read, to their exit: the
    // password shows in none.
    const EVERY_LEVEL: &str = "info,wactor=trace,async_nats=trace";
    let alpha = Host::start_logging(dir.path(), &["--nats", &good, "--node", "alpha"], EVERY_LEVEL);
    let beta = Host::start_env(
        dir.path(),
        &["--node", "beta"],
        EVERY_LEVEL,
        &[("WACTOR_NATS_URL", &good)],
    );
    let (alpha, beta) = pair_works(alpha, beta);
    let joined = alpha
        .seen
        .iter()
        .find(|l| l.contains("joined the cluster"))
        .expect("alpha logged that it joined")
        .clone();
    assert!(joined.contains("nats://***@127.0.0.1"), "{joined}");
    let (alpha, beta) = (alpha.all_lines(), beta.all_lines());
    for line in alpha.iter().chain(&beta) {
        assert!(!line.contains("s3cret"), "a log line shows the password: {line}");
    }

    // A wrong password, and none at all, are refused with what to check.
    let wrong = format!("nats://wactor:wrong-pass@127.0.0.1:{port}");
    let mut host = Host::start_logging(dir.path(), &["--nats", &wrong, "--node", "gamma"], EVERY_LEVEL);
    host.expect_line(&["refused the connection", "check the user and password"]);
    assert!(!host.wait_exit().success(), "the refused host exits");
    for line in host.all_lines() {
        assert!(
            !line.contains("wrong-pass"),
            "a log line shows the password: {line}"
        );
    }
    refused(
        dir.path(),
        &["--nats", &nats.url(), "--node", "gamma"],
        &["refused the connection", "check the user and password"],
    );
}

/// PEM files written in a directory: a certificate authority, a server
/// certificate for `127.0.0.1` and a client certificate, both signed by it.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn certificates(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write a PEM file");
        path.to_str().expect("a UTF-8 path").to_string()
    };
    let signed = |name: &str, subject: &str| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![subject.to_string()])
            .expect("params")
            .signed_by(&key, &ca, &ca_key)
            .expect("certificate");
        (
            write(&format!("{name}.pem"), cert.pem()),
            write(&format!("{name}-key.pem"), key.serialize_pem()),
        )
    };
    let server = signed("server", "127.0.0.1");
    let client = signed("client", "wactor-node");
    Pki {
        ca: write("ca.pem", ca.pem()),
        server,
        client,
    }
}

#[test]
fn hosts_join_over_tls_and_refuse_a_server_they_cannot_trust() {
    let pki = tempfile::tempdir().expect("tempdir");
    let Pki {
        ca,
        server: (cert, key),
        ..
    } = certificates(pki.path());
    let nats = NatsServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let url = format!("tls://127.0.0.1:{}", nats.port());
    let dir = testkit_dir();
    let member = |name: &str| {
        Host::start_with(
            dir.path(),
            &["--nats", &url, "--node", name, "--nats-tls-ca", &ca],
        )
    };
    pair_works(member("alpha"), member("beta"));

    // Without the authority the server's certificate is not trusted.
    refused(
        dir.path(),
        &["--nats", &url, "--node", "gamma"],
        &["refused the connection", "TLS", "--nats-tls-ca"],
    );
    // A root certificate file that is not there is named.
    refused(
        dir.path(),
        &[
            "--nats",
            &url,
            "--node",
            "gamma",
            "--nats-tls-ca",
            "/nonexistent/ca.pem",
        ],
        &["cannot use the TLS root certificates", "/nonexistent/ca.pem"],
    );
}

#[test]
fn a_host_logs_in_with_a_token_and_names_a_credentials_file_it_cannot_read() {
    let nats = NatsServer::start_with(&["--auth", "t0ken"]);
    let dir = testkit_dir();
    let url = format!("nats://t0ken@127.0.0.1:{}", nats.port());
    let mut host = Host::start_with(dir.path(), &["--nats", &url, "--node", "alpha"]);
    let joined = host.expect_line(&["joined the cluster", "node=alpha"]);
    assert!(!joined.contains("t0ken"), "{joined}");
    refused(
        dir.path(),
        &["--nats", &nats.url(), "--node", "beta"],
        &["refused the connection", "check the user and password or token"],
    );
    refused(
        dir.path(),
        &[
            "--nats",
            &url,
            "--node",
            "beta",
            "--nats-creds",
            "/nonexistent/wactor.creds",
        ],
        &[
            "cannot use the NATS credentials file",
            "/nonexistent/wactor.creds",
        ],
    );
}

#[test]
fn hosts_present_a_client_certificate_to_a_server_that_verifies_them() {
    let pki = tempfile::tempdir().expect("tempdir");
    let Pki {
        ca,
        server: (cert, key),
        client: (client_cert, client_key),
    } = certificates(pki.path());
    let nats = NatsServer::start_with(&[
        "--tlsverify",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlscacert",
        &ca,
    ]);
    let url = format!("tls://127.0.0.1:{}", nats.port());
    let dir = testkit_dir();
    let with_certificate = |name: &str| {
        Host::start_with(
            dir.path(),
            &[
                "--nats",
                &url,
                "--node",
                name,
                "--nats-tls-ca",
                &ca,
                "--nats-tls-cert",
                &client_cert,
                "--nats-tls-key",
                &client_key,
            ],
        )
    };
    pair_works(with_certificate("alpha"), with_certificate("beta"));

    // A host that trusts the server but has no certificate of its own is
    // turned away.
    let mut host = Host::start_with(
        dir.path(),
        &["--nats", &url, "--node", "gamma", "--nats-tls-ca", &ca],
    );
    host.expect_line(&["refused the connection", "--nats-tls-cert"]);
    assert!(!host.wait_exit().success());
}
