//! `wactor call`, `wactor send` and `wactor ps`: clients of a running
//! host's HTTP API.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use wactor::http::{TIMEOUT_HEADER, TOKEN_ENV};
use wactor::trace;
use wactor::{Address, Pid};

use super::{EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE};

/// How long to wait for the host to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the host is.
#[derive(clap::Args)]
pub(crate) struct Remote {
    /// The host's HTTP API.
    #[arg(
        long,
        value_name = "URL",
        env = "WACTOR_HOST",
        default_value = "http://127.0.0.1:7420"
    )]
    host: String,
    /// Bearer token, for a host started with `--token`.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    token: Option<String>,
}

/// Call an actor and print its answer.
///
/// Sends PAYLOAD as the request to the actor NAME (a registered name, or a
/// pid as `wactor ps` prints it) on a running host (`wactor run`), waits
/// for the answer and writes it to
/// stdout as it is. On failure prints the error kind (`unknown-process`,
/// `timeout`, `mailbox-full`, `terminated`, ...) and what to do about it on
/// stderr, and exits with status 1 (3 if no host answers).
///
/// PAYLOAD is the literal text, `@FILE` for a file's contents, or `-` for
/// stdin. Examples: `wactor call echo hello`,
/// `wactor call '<local.7.1764690000>' hello`.
///
/// With --json, PAYLOAD is JSON and so is the answer: a typed actor of the
/// Rust SDK reads it with serde's JSON mapping, e.g.
/// `wactor call calculator --json '{"Divide":[7,2]}'` prints `{"Ok":3}`.
/// A request the actor cannot decode fails with `bad-request`.
#[derive(clap::Args)]
pub(crate) struct CallArgs {
    /// The actor: its registered name (`name`, or `name@node`), or its pid
    /// (`<node.id.creation>` as `wactor ps` prints it, or `node.id.creation`).
    name: String,
    /// The request: text, `@FILE`, or `-` for stdin.
    payload: String,
    /// Send PAYLOAD as JSON (`Content-Type: application/json`) and get the
    /// answer as JSON.
    #[arg(long)]
    json: bool,
    /// How long to wait for the answer, in milliseconds (default: the
    /// host's call timeout, 5000 unless `wactor run --call-timeout-ms`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// Send a message to an actor.
///
/// Puts PAYLOAD in the mailbox of the actor NAME (a registered name, or a
/// pid as `wactor ps` prints it) on a running host and returns at once; nothing is printed on success. Fails (status
/// 1, with the error kind) when there is no such actor or its mailbox is
/// full.
///
/// PAYLOAD is the literal text, `@FILE` for a file's contents, or `-` for
/// stdin.
#[derive(clap::Args)]
pub(crate) struct SendArgs {
    /// The actor: its registered name (`name`, or `name@node`), or its pid
    /// (`<node.id.creation>` as `wactor ps` prints it, or `node.id.creation`).
    name: String,
    /// The message: text, `@FILE`, or `-` for stdin.
    payload: String,
    #[command(flatten)]
    remote: Remote,
}

/// List the actors of a running host.
///
/// One row per actor: pid, registered names, behaviour and version, state
/// (`running`, `waiting-on-call`, `hibernating`, ...), messages waiting in
/// its mailbox, messages handled, restarts. `--json` prints the host's JSON
/// instead.
///
/// With FILTERs, only the actors that match one of them: a pid (as the
/// table prints it, or without the brackets), a registered name, or a
/// behaviour. Example: `wactor ps echo '<local.7.1764690000>'`.
#[derive(clap::Args)]
pub(crate) struct PsArgs {
    /// Pids, names or behaviours to show (default: every actor).
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Why a request to the host did not give an answer.
enum Failure {
    /// The host answered with an error.
    Refused {
        kind: String,
        message: String,
        trace: Option<String>,
    },
    /// No host, or not a wactor host.
    Unreachable(String),
    /// A problem before anything was sent.
    Local(String),
}

impl Failure {
    /// Prints the failure and what to do next; the exit status.
    fn report(self, remote: &Remote) -> ExitCode {
        match self {
            Failure::Refused { kind, message, trace } => {
                eprintln!("error ({kind}): {message}");
                if let Some(hint) = hint(&kind) {
                    eprintln!("hint: {hint}");
                }
                if let Some(trace) = trace {
                    eprintln!("trace: {trace} (grep the host's log for it)");
                }
                ExitCode::from(EXIT_REFUSED)
            }
            Failure::Unreachable(why) => {
                eprintln!(
                    "error (no-host): cannot reach a wactor host at {}: {why}\n\
                     hint: start one with `wactor run DIR`, or point --host (or WACTOR_HOST) at the one that runs",
                    remote.host
                );
                ExitCode::from(EXIT_UNREACHABLE)
            }
            Failure::Local(why) => {
                eprintln!("error: {why}");
                ExitCode::from(EXIT_REFUSED)
            }
        }
    }
}

/// What to do about an error of kind `kind`.
fn hint(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "unknown-process" => "no live actor has that name or pid; `wactor ps` lists the running ones",
        "mailbox-full" => {
            "the actor is not keeping up; retry later, or raise `wactor run --mailbox-capacity`"
        }
        "timeout" => "the actor did not answer in time; give it longer with --timeout-ms",
        "terminated" => "the actor ended before it answered; the host's log says why",
        "not-allowed" => "the host refused the request; the message says why",
        "payload-too-large" => "send less, or raise `wactor run --max-message-bytes`",
        "no-connection" => "the actor's node cannot be reached",
        "remote" => "the actor answered with an error",
        "unauthorized" => "pass the host's token with --token or the WACTOR_TOKEN environment variable",
        "bad-request" => "check the name or pid, the options and the payload (its type and encoding)",
        _ => return None,
    })
}

/// The bytes a PAYLOAD argument stands for.
fn read_payload(arg: &str) -> Result<Vec<u8>, Failure> {
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::Local(format!("cannot read the payload from stdin: {e}")))?;
        return Ok(buf);
    }
    if let Some(path) = arg.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| {
            Failure::Local(format!(
                "cannot read the payload file {path}: {e} (to send text that starts with @, pipe it in with `-`)"
            ))
        });
    }
    Ok(arg.as_bytes().to_vec())
}

/// The URL of an API path under the host's base URL; `segments` are
/// escaped.
fn url(remote: &Remote, segments: &[&str]) -> Result<Url, Failure> {
    let bad = |why: String| {
        Failure::Local(format!(
            "--host {}: {why}; give a URL like http://127.0.0.1:7420",
            remote.host
        ))
    };
    let mut url = Url::parse(&remote.host).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad("only http:// is supported".into()));
    }
    url.path_segments_mut()
        .map_err(|()| bad("not a base URL".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Sends one request to the host; the response body on a 2xx status.
async fn request(
    remote: &Remote,
    method: Method,
    segments: &[&str],
    body: Option<Vec<u8>>,
    timeout_ms: Option<u64>,
    json: bool,
) -> Result<Vec<u8>, Failure> {
    let url = url(remote, segments)?;
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| Failure::Local(format!("cannot set up the HTTP client: {e}")))?;
    let mut req = client.request(method, url);
    if let Some(token) = &remote.token {
        req = req.bearer_auth(token);
    }
    if let Some(ms) = timeout_ms {
        req = req.header(TIMEOUT_HEADER, ms.to_string());
    }
    if json {
        req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let res = req
        .send()
        .await
        .map_err(|e| Failure::Unreachable(error_chain(&e)))?;
    let status = res.status();
    let trace = res
        .headers()
        .get(trace::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = res
        .bytes()
        .await
        .map_err(|e| Failure::Unreachable(format!("the answer was cut off: {}", error_chain(&e))))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    #[derive(serde::Deserialize)]
    struct ApiError {
        error: String,
        message: String,
    }
    match serde_json::from_slice::<ApiError>(&body) {
        Ok(e) => Err(Failure::Refused {
            kind: e.error,
            message: e.message,
            trace,
        }),
        Err(_) if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED => Err(
            Failure::Unreachable(format!("{status}: this does not look like a wactor host")),
        ),
        Err(_) => Err(Failure::Refused {
            kind: format!("http-{}", status.as_u16()),
            message: String::from_utf8_lossy(&body).chars().take(500).collect(),
            trace,
        }),
    }
}

/// An error and its causes on one line (reqwest's own text is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

pub(crate) async fn call(args: CallArgs) -> ExitCode {
    let result = async {
        let payload = read_payload(&args.payload)?;
        request(
            &args.remote,
            Method::POST,
            &["v1", "actors", &args.name, "call"],
            Some(payload),
            args.timeout_ms,
            args.json,
        )
        .await
    }
    .await;
    match result {
        Ok(answer) => {
            let mut out = std::io::stdout().lock();
            let mut written = out.write_all(&answer);
            // A terminal gets a final newline; a pipe gets the bytes as they are.
            if std::io::stdout().is_terminal() && !answer.ends_with(b"\n") {
                written = written.and_then(|()| out.write_all(b"\n"));
            }
            match written.and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => Failure::Local(format!("cannot write the answer: {e}")).report(&args.remote),
            }
        }
        Err(f) => f.report(&args.remote),
    }
}

pub(crate) async fn send(args: SendArgs) -> ExitCode {
    let result = async {
        let payload = read_payload(&args.payload)?;
        request(
            &args.remote,
            Method::POST,
            &["v1", "actors", &args.name, "send"],
            Some(payload),
            None,
            false,
        )
        .await
    }
    .await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) => f.report(&args.remote),
    }
}

pub(crate) async fn ps(args: PsArgs) -> ExitCode {
    let filters = match args
        .filters
        .iter()
        .map(|f| Address::parse(f))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(filters) => filters,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let body = match request(&args.remote, Method::GET, &["v1", "actors"], None, None, false).await {
        Ok(body) => body,
        Err(f) => return f.report(&args.remote),
    };
    let mut rows: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(rows) => rows,
        Err(e) => {
            return Failure::Unreachable(format!(
                "the actor table is not JSON ({e}): is this a wactor host?"
            ))
            .report(&args.remote)
        }
    };
    if !filters.is_empty() {
        rows.retain(|row| filters.iter().any(|f| matches(row, f)));
    }
    if args.json {
        let mut out = std::io::stdout().lock();
        let json = serde_json::to_vec(&rows).unwrap_or_default();
        let _ = out.write_all(&json).and_then(|()| out.write_all(b"\n"));
        return ExitCode::SUCCESS;
    }
    print!("{}", table(&rows));
    ExitCode::SUCCESS
}

/// True when a row of the actor table is the actor `filter` names: by pid,
/// or by a registered name or behaviour.
fn matches(row: &serde_json::Value, filter: &Address) -> bool {
    match filter {
        Address::Pid(pid) => row["pid"].as_str().and_then(|p| Pid::parse(p).ok()).as_ref() == Some(pid),
        Address::Name(name) => {
            row["behaviour"].as_str() == Some(name.as_str())
                || row["names"]
                    .as_array()
                    .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(name.as_str())))
        }
    }
}

/// The actor table as aligned text columns.
fn table(rows: &[serde_json::Value]) -> String {
    const HEAD: [&str; 8] = [
        "PID",
        "NAMES",
        "BEHAVIOUR",
        "VERSION",
        "STATE",
        "MAILBOX",
        "HANDLED",
        "RESTARTS",
    ];
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let mut cells: Vec<[String; 8]> = vec![HEAD.map(str::to_string)];
    for r in rows {
        let names = r["names"]
            .as_array()
            .map(|n| n.iter().map(text).collect::<Vec<_>>().join(","))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "-".into());
        cells.push([
            text(&r["pid"]),
            names,
            text(&r["behaviour"]),
            text(&r["version"]),
            text(&r["state"]),
            text(&r["mailbox_depth"]),
            text(&r["handled"]),
            text(&r["restarts"]),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
