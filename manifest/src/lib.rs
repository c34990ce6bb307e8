//! Behaviour manifests: the optional `NAME.toml` beside `NAME.wasm`.
//!
//! A manifest says how many actors of a behaviour start when its file is
//! loaded from a directory, overrides the node's limits for that behaviour,
//! and grants it WASI capabilities. Every key is optional; a key that is not
//! set keeps the node's default (the host's `NodeConfig`), and a behaviour with no
//! manifest behaves exactly as one with an empty manifest.
//!
//! ```toml
//! instances = 1            # actors started when the directory is loaded (default 1; 0 = load only)
//! # pool = 4               # or: one pool of 4 workers behind one pid (not with `instances`)
//! name = "calc"            # name registered for the first instance or the pool (default: the behaviour name)
//! mailbox = 1024           # mailbox capacity, in messages
//! call_timeout_ms = 5000   # default timeout of the calls these actors make
//! memory_limit = "64MiB"   # linear memory per actor: bytes as an integer, or "N B|KiB|MiB|GiB"
//! cpu_budget_ms = 2000     # CPU time one message may take
//!
//! [restart]
//! policy = "temporary"     # permanent | transient | temporary
//! max_restarts = 3         # at most this many restarts...
//! within_secs = 5          # ...within this many seconds, then give up
//!
//! [wasi]
//! env = { KEY = "value" }  # environment variables the guest sees
//! args = ["calc", "-v"]    # the guest's arguments, exactly; or `inherit_args = true`
//!
//! [[wasi.dirs]]
//! host = "data"            # relative to the manifest's directory, or absolute
//! guest = "/data"          # where the guest sees it (absolute)
//! mode = "ro"              # ro (default) | rw
//! ```
//!
//! ## Keys
//!
//! | key | values | default |
//! | --- | --- | --- |
//! | `instances` | 0 to [`MAX_INSTANCES`]; 0 loads the behaviour without starting an actor | 1 |
//! | `pool` | 1 to [`MAX_POOL`] workers; cannot be combined with `instances` | no pool |
//! | `name` | a registrable name (not empty, no `@`, at most 255 bytes) | the behaviour name |
//! | `mailbox` | 1 to [`MAX_MAILBOX`] messages | the node's `mailbox_capacity` |
//! | `call_timeout_ms` | 1 to [`MAX_MILLIS`] | the node's `call_timeout` |
//! | `memory_limit` | [`MIN_MEMORY_LIMIT`] (1 MiB) to [`MAX_MEMORY_LIMIT`] (4 GiB) | the node's `memory_limit_bytes` |
//! | `cpu_budget_ms` | 1 to [`MAX_MILLIS`], rounded up to whole 10 ms ticks | the node's `cpu_budget_ticks` |
//! | `restart.policy` | `permanent` (always restart), `transient` (restart unless it ended normally), `temporary` (never restart) | `temporary` |
//! | `restart.max_restarts` | 0 to [`MAX_RESTARTS`] | 3 |
//! | `restart.within_secs` | 1 to [`MAX_WITHIN_SECS`] | 5 |
//! | `wasi.env` | a table of strings; keys not empty and without `=` | nothing |
//! | `wasi.args` | a list of strings, passed exactly (the first is by convention the program name) | nothing |
//! | `wasi.inherit_args` | `true` passes the host's own arguments; not with `wasi.args` | `false` |
//! | `wasi.dirs` | `host`, `guest` (absolute, each at most once), `mode` (`ro` or `rw`) | nothing |
//!
//! Unknown keys are errors, so a typo is never silently ignored.
//!
//! A read-only directory lets the guest list and read files and nothing
//! else; a read-write one also lets it create, write, rename and remove
//! them. Either way the guest cannot reach above the granted directory.
//!
//! The restart keys are read and checked here; the supervision that acts on
//! them lives elsewhere.
//!
//! [`Manifest::parse`] only reads its text (no file system access), so any
//! input can be thrown at it; whether granted directories exist is checked
//! when the manifest is applied ([`Manifest::check_dirs`], and again when
//! an actor's sandbox is built).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

const MIB: u64 = 1024 * 1024;

/// Most actors `instances` may start.
pub const MAX_INSTANCES: u32 = 10_000;
/// Most workers `pool` may start.
pub const MAX_POOL: u32 = 10_000;
/// Largest `mailbox`.
pub const MAX_MAILBOX: u32 = 1_000_000;
/// Largest `call_timeout_ms` and `cpu_budget_ms`: one day.
pub const MAX_MILLIS: u64 = 24 * 60 * 60 * 1000;
/// Smallest `memory_limit`: 1 MiB.
pub const MIN_MEMORY_LIMIT: u64 = MIB;
/// Largest `memory_limit`: 4 GiB, all a 32-bit memory can address.
pub const MAX_MEMORY_LIMIT: u64 = 4 * 1024 * MIB;
/// Largest `restart.max_restarts`.
pub const MAX_RESTARTS: u32 = 10_000;
/// Largest `restart.within_secs`: one day.
pub const MAX_WITHIN_SECS: u64 = 24 * 60 * 60;

/// Longest name a process can be registered under, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Checks that `name` can be registered: not empty, at most
/// [`MAX_NAME_LEN`] bytes, no `@` (which separates a name from its node),
/// no whitespace or control characters (a name must survive a log line, a
/// URL and a shell). The one rule for names, used by the host's registry
/// too, so a manifest never names what cannot be registered.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("a name is at most {MAX_NAME_LEN} bytes"));
    }
    if name.contains('@') {
        return Err(format!(
            "`{name}` contains `@`, which separates a name from its node"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{name:?} contains whitespace or a control character"));
    }
    // Where a person writes an address (the CLI, a URL), a pid is
    // `<node.id.creation>` or `node.id.creation`: a name must not read as one.
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut tail = name.rsplitn(3, '.');
    let pid_shaped = matches!(
        (tail.next(), tail.next(), tail.next()),
        (Some(creation), Some(id), Some(_)) if numeric(creation) && numeric(id)
    );
    if name.starts_with('<') || pid_shaped {
        return Err(format!(
            "`{name}` is written like a pid (`<node.id.creation>` or `node.id.creation`), so it could not be told from one"
        ));
    }
    Ok(())
}

/// The manifest of one behaviour, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// What loading the behaviour from a directory starts.
    pub start: Start,
    /// The name registered for the first instance or the pool; `None`: the
    /// behaviour name.
    pub name: Option<String>,
    /// Mailbox capacity, in messages.
    pub mailbox: Option<usize>,
    /// Default timeout of the calls these actors make.
    pub call_timeout: Option<Duration>,
    /// Linear memory per actor, in bytes.
    pub memory_limit: Option<usize>,
    /// CPU time one message may take.
    pub cpu_budget: Option<Duration>,
    /// How supervision restarts these actors.
    pub restart: RestartPolicy,
    /// WASI capabilities granted.
    pub wasi: WasiGrants,
}

impl Default for Manifest {
    /// What a behaviour without a manifest gets: one instance, the node's
    /// limits, nothing granted.
    fn default() -> Self {
        Manifest {
            start: Start::Instances(1),
            name: None,
            mailbox: None,
            call_timeout: None,
            memory_limit: None,
            cpu_budget: None,
            restart: RestartPolicy::default(),
            wasi: WasiGrants::default(),
        }
    }
}

/// What loading a behaviour from a directory starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// This many independent actors (0: none, the behaviour is only loaded).
    Instances(u32),
    /// One pool of this many workers behind one pid.
    Pool(u32),
}

/// When an actor that ended on its own is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Restart {
    /// Always, whatever the reason.
    Permanent,
    /// Only after an abnormal end (any reason but `normal`).
    Transient,
    /// Never.
    Temporary,
}

/// A behaviour's restart policy: when, and how often at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// When to restart.
    pub restart: Restart,
    /// Restart intensity: at most this many restarts...
    pub max_restarts: u32,
    /// ...within this window; one more and the actor stays down.
    pub within: Duration,
}

impl Default for RestartPolicy {
    /// `temporary`, with an intensity of 3 restarts in 5 s for when the
    /// policy is changed to restart.
    fn default() -> Self {
        RestartPolicy {
            restart: Restart::Temporary,
            max_restarts: 3,
            within: Duration::from_secs(5),
        }
    }
}

/// The WASI capabilities of a behaviour. The default grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasiGrants {
    /// Environment variables, by name.
    pub env: BTreeMap<String, String>,
    /// The guest's arguments, exactly.
    pub args: Vec<String>,
    /// Pass the host process's own arguments (after `args`, which is then
    /// empty).
    pub inherit_args: bool,
    /// Directories granted.
    pub dirs: Vec<DirGrant>,
}

/// One directory granted to a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host (absolute, or joined to the manifest's
    /// directory).
    pub host: PathBuf,
    /// Where the guest sees it: an absolute path, normalised (no trailing
    /// `/`, no `.` or empty parts).
    pub guest: String,
    /// What the guest may do there.
    pub mode: DirMode,
    /// Where the grant is written in the manifest.
    pub at: Location,
}

/// What a guest may do in a granted directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum DirMode {
    /// List and read.
    #[serde(rename = "ro")]
    ReadOnly,
    /// List, read, create, write, rename, remove.
    #[serde(rename = "rw")]
    ReadWrite,
}

/// A place in a manifest's text, counted from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The line.
    pub line: usize,
    /// The column, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    fn of(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = &text.as_bytes()[..offset];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Counted in characters; a span inside a character counts its bytes.
        let column = 1 + match text.get(line_start..offset) {
            Some(s) => s.chars().count(),
            None => offset - line_start,
        };
        Location { line, column }
    }
}

/// Why a manifest was refused: where, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", Prefix(file.as_deref(), *at))]
pub struct ManifestError {
    /// The manifest file, when it was read from one.
    pub file: Option<PathBuf>,
    /// Where in the text, when the problem has a place.
    pub at: Option<Location>,
    /// What is wrong (boxed: errors stay small on the success path).
    pub kind: Box<ManifestErrorKind>,
}

/// `FILE, line L, column C: ` before an error's text.
struct Prefix<'a>(Option<&'a Path>, Option<Location>);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(file), Some(at)) => {
                write!(f, "{}, line {}, column {}: ", file.display(), at.line, at.column)
            }
            (Some(file), None) => write!(f, "{}: ", file.display()),
            (None, Some(at)) => write!(f, "line {}, column {}: ", at.line, at.column),
            (None, None) => Ok(()),
        }
    }
}

/// What is wrong with a manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestErrorKind {
    /// The file could not be read.
    #[error("cannot read the manifest: {0}")]
    Read(String),
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{0} (every key is described in the Manifests section of the README)")]
    Syntax(String),
    /// A number outside its range.
    #[error("`{key}` = {value} is out of range: use a value from {min} to {max}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: i128,
        /// The smallest value allowed.
        min: i128,
        /// The largest value allowed.
        max: i128,
    },
    /// `pool` and `instances` together.
    #[error("`pool` and `instances` cannot both be set: a manifest starts either plain instances or one pool; remove one of them")]
    PoolAndInstances,
    /// A `memory_limit` that is not a size.
    #[error("`memory_limit` = {text:?} is not a size: {reason}; write bytes as an integer, or a number and a unit such as \"64MiB\" (units B, KiB, MiB, GiB)")]
    BadSize {
        /// The value given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `memory_limit` outside its range.
    #[error("`memory_limit` = {bytes} bytes is out of range: use from 1 MiB ({MIN_MEMORY_LIMIT} bytes) to 4 GiB ({MAX_MEMORY_LIMIT} bytes)")]
    MemoryOutOfRange {
        /// The limit given, in bytes.
        bytes: u128,
    },
    /// A `name` that cannot be registered.
    #[error("`name` = {name:?} cannot be registered: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// Why not.
        reason: String,
    },
    /// `wasi.args` and `wasi.inherit_args = true` together.
    #[error("`wasi.args` and `wasi.inherit_args = true` cannot both be set: list the arguments, or inherit the host's; remove one of them")]
    ArgsAndInheritArgs,
    /// An unusable environment variable name.
    #[error("`wasi.env` key {key:?}: {reason}")]
    BadEnvKey {
        /// The key given.
        key: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// An unusable guest path.
    #[error("guest path {path:?}: {reason}")]
    BadGuestPath {
        /// The path given.
        path: String,
        /// What is wrong with it and what to write instead.
        reason: &'static str,
    },
    /// The same guest path granted twice.
    #[error("guest path {0:?} is granted twice; give each [[wasi.dirs]] its own guest path")]
    DuplicateGuestPath(String),
    /// An empty host path.
    #[error(
        "`host` is empty: give the directory to grant, relative to the manifest's directory or absolute"
    )]
    EmptyHostPath,
    /// A granted directory that cannot be opened (checked when the
    /// manifest is applied, not when it is parsed).
    #[error(
        "the directory {host} granted as {guest:?} cannot be opened: {reason}; create it or correct `host`"
    )]
    MissingDir {
        /// The host directory.
        host: PathBuf,
        /// Its guest path.
        guest: String,
        /// The I/O error.
        reason: String,
    },
}

impl Manifest {
    /// The manifest file of a behaviour file: `DIR/NAME.toml` for
    /// `DIR/NAME.wasm`.
    pub fn path_for(wasm: &Path) -> PathBuf {
        wasm.with_extension("toml")
    }

    /// Parses and checks a manifest. Relative host directories are joined
    /// to `base_dir`. Pure: touches no file.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Manifest, ManifestError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ManifestError {
            file: None,
            at: e.span().map(|s| Location::of(text, s.start)),
            kind: Box::new(ManifestErrorKind::Syntax(e.message().trim_end().to_string())),
        })?;
        raw.check(text, base_dir)
    }

    /// Reads and parses the manifest at `path`; relative host directories
    /// are taken from the file's directory. Errors name the file.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let with_file = |mut e: ManifestError| {
            e.file = Some(path.to_path_buf());
            e
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            with_file(ManifestError {
                file: None,
                at: None,
                kind: Box::new(ManifestErrorKind::Read(e.to_string())),
            })
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Manifest::parse(&text, base).map_err(with_file)
    }

    /// Checks that every granted directory exists and is a directory.
    pub fn check_dirs(&self) -> Result<(), ManifestError> {
        for d in &self.wasi.dirs {
            let reason = match std::fs::metadata(&d.host) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => "it is not a directory".to_string(),
                Err(e) => e.to_string(),
            };
            return Err(d.missing(reason));
        }
        Ok(())
    }
}

impl DirGrant {
    /// The error for this grant's directory not opening, with `reason`.
    pub fn missing(&self, reason: String) -> ManifestError {
        ManifestError {
            file: None,
            at: Some(self.at),
            kind: Box::new(ManifestErrorKind::MissingDir {
                host: self.host.clone(),
                guest: self.guest.clone(),
                reason,
            }),
        }
    }
}

// --- the text form ------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    instances: Option<Spanned<i64>>,
    pool: Option<Spanned<i64>>,
    name: Option<Spanned<String>>,
    mailbox: Option<Spanned<i64>>,
    call_timeout_ms: Option<Spanned<i64>>,
    memory_limit: Option<Spanned<Size>>,
    cpu_budget_ms: Option<Spanned<i64>>,
    restart: Option<RawRestart>,
    wasi: Option<RawWasi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    policy: Option<Restart>,
    max_restarts: Option<Spanned<i64>>,
    within_secs: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWasi {
    env: Option<BTreeMap<Spanned<String>, String>>,
    args: Option<Vec<String>>,
    inherit_args: Option<Spanned<bool>>,
    dirs: Option<Vec<Spanned<RawDir>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: Spanned<String>,
    guest: Spanned<String>,
    mode: Option<DirMode>,
}

/// A `memory_limit` as written: bytes, or a string with a unit.
enum Size {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: bytes as an integer, or a string such as \"64MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                Ok(Size::Bytes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Ok(Size::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks against the text the spans point into.
struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>) -> Option<Location> {
        Some(Location::of(self.text, span.start))
    }

    fn error<T>(&self, span: Range<usize>, kind: ManifestErrorKind) -> Result<T, ManifestError> {
        Err(ManifestError {
            file: None,
            at: self.at(span),
            kind: Box::new(kind),
        })
    }

    /// `value` of `key`, if it lies in `min..=max`.
    fn range(&self, key: &'static str, v: &Spanned<i64>, min: i64, max: i64) -> Result<i64, ManifestError> {
        let value = *v.get_ref();
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            self.error(
                v.span(),
                ManifestErrorKind::OutOfRange {
                    key,
                    value: value.into(),
                    min: min.into(),
                    max: max.into(),
                },
            )
        }
    }

    fn opt_range(
        &self,
        key: &'static str,
        v: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ManifestError> {
        v.as_ref().map(|v| self.range(key, v, min, max)).transpose()
    }

    fn memory(&self, v: &Spanned<Size>) -> Result<usize, ManifestError> {
        let bytes: u128 = match v.get_ref() {
            Size::Bytes(b) => match u128::try_from(*b) {
                Ok(b) => b,
                Err(_) => {
                    return self.error(
                        v.span(),
                        ManifestErrorKind::BadSize {
                            text: b.to_string(),
                            reason: "a size cannot be negative".into(),
                        },
                    )
                }
            },
            Size::Text(t) => parse_size(t).or_else(|reason| {
                self.error(
                    v.span(),
                    ManifestErrorKind::BadSize {
                        text: t.clone(),
                        reason,
                    },
                )
            })?,
        };
        if !(u128::from(MIN_MEMORY_LIMIT)..=u128::from(MAX_MEMORY_LIMIT)).contains(&bytes) {
            return self.error(v.span(), ManifestErrorKind::MemoryOutOfRange { bytes });
        }
        // In range, so at most 4 GiB; a 32-bit host caps it at its own size.
        Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
    }

    fn dir(&self, raw: &Spanned<RawDir>, base_dir: &Path) -> Result<DirGrant, ManifestError> {
        let d = raw.get_ref();
        let host = d.host.get_ref();
        if host.is_empty() {
            return self.error(d.host.span(), ManifestErrorKind::EmptyHostPath);
        }
        let guest = normalise_guest(d.guest.get_ref()).or_else(|reason| {
            self.error(
                d.guest.span(),
                ManifestErrorKind::BadGuestPath {
                    path: d.guest.get_ref().clone(),
                    reason,
                },
            )
        })?;
        Ok(DirGrant {
            host: base_dir.join(host),
            guest,
            mode: d.mode.unwrap_or(DirMode::ReadOnly),
            at: Location::of(self.text, raw.span().start),
        })
    }
}

impl Raw {
    fn check(self, text: &str, base_dir: &Path) -> Result<Manifest, ManifestError> {
        let c = Checker { text };
        let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        let start = match (&self.instances, &self.pool) {
            (Some(_), Some(pool)) => return c.error(pool.span(), ManifestErrorKind::PoolAndInstances),
            (None, Some(pool)) => Start::Pool(to_u32(c.range("pool", pool, 1, MAX_POOL.into())?)),
            (Some(n), None) => Start::Instances(to_u32(c.range("instances", n, 0, MAX_INSTANCES.into())?)),
            (None, None) => Start::Instances(1),
        };
        let name = match &self.name {
            None => None,
            Some(n) => match check_name(n.get_ref()) {
                Ok(()) => Some(n.get_ref().clone()),
                Err(e) => {
                    return c.error(
                        n.span(),
                        ManifestErrorKind::BadName {
                            name: n.get_ref().clone(),
                            reason: e,
                        },
                    )
                }
            },
        };
        let mailbox = c
            .opt_range("mailbox", &self.mailbox, 1, MAX_MAILBOX.into())?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let millis = |key, v: &Option<Spanned<i64>>| -> Result<Option<Duration>, ManifestError> {
            let max = i64::try_from(MAX_MILLIS).unwrap_or(i64::MAX);
            Ok(c.opt_range(key, v, 1, max)?
                .map(|ms| Duration::from_millis(ms.unsigned_abs())))
        };
        let call_timeout = millis("call_timeout_ms", &self.call_timeout_ms)?;
        let cpu_budget = millis("cpu_budget_ms", &self.cpu_budget_ms)?;
        let memory_limit = self.memory_limit.as_ref().map(|m| c.memory(m)).transpose()?;

        let mut restart = RestartPolicy::default();
        if let Some(r) = &self.restart {
            if let Some(p) = r.policy {
                restart.restart = p;
            }
            if let Some(n) = c.opt_range("restart.max_restarts", &r.max_restarts, 0, MAX_RESTARTS.into())? {
                restart.max_restarts = to_u32(n);
            }
            let max = i64::try_from(MAX_WITHIN_SECS).unwrap_or(i64::MAX);
            if let Some(s) = c.opt_range("restart.within_secs", &r.within_secs, 1, max)? {
                restart.within = Duration::from_secs(s.unsigned_abs());
            }
        }

        let mut wasi = WasiGrants::default();
        if let Some(w) = self.wasi {
            for (k, v) in w.env.unwrap_or_default() {
                let reason = if k.get_ref().is_empty() {
                    Some("an environment variable needs a name")
                } else if k.get_ref().contains('=') {
                    Some("a name cannot contain `=`, which separates it from its value")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return c.error(
                        k.span(),
                        ManifestErrorKind::BadEnvKey {
                            key: k.get_ref().clone(),
                            reason,
                        },
                    );
                }
                wasi.env.insert(k.into_inner(), v);
            }
            let inherit = w.inherit_args.as_ref().is_some_and(|i| *i.get_ref());
            if let (true, Some(_)) = (inherit, &w.args) {
                let span = w.inherit_args.as_ref().map(|i| i.span()).unwrap_or_default();
                return c.error(span, ManifestErrorKind::ArgsAndInheritArgs);
            }
            wasi.inherit_args = inherit;
            wasi.args = w.args.unwrap_or_default();
            let mut seen = BTreeSet::new();
            for raw in w.dirs.unwrap_or_default() {
                let d = c.dir(&raw, base_dir)?;
                if !seen.insert(d.guest.clone()) {
                    return c.error(
                        raw.get_ref().guest.span(),
                        ManifestErrorKind::DuplicateGuestPath(d.guest),
                    );
                }
                wasi.dirs.push(d);
            }
        }

        Ok(Manifest {
            start,
            name,
            mailbox,
            call_timeout,
            memory_limit,
            cpu_budget,
            restart,
            wasi,
        })
    }
}

/// Bytes in a size such as `64MiB`, `512 KiB`, `1GiB` or `4096B`.
fn parse_size(text: &str) -> Result<u128, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return Err("it does not start with a number".into());
    }
    let number: u128 = number
        .parse()
        .map_err(|_| "the number is too large".to_string())?;
    let scale: u128 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        other => return Err(format!("unknown unit `{other}`")),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| "the number is too large".to_string())
}

/// An absolute guest path with `.` and empty parts removed, or why it is
/// unusable.
fn normalise_guest(path: &str) -> Result<String, &'static str> {
    if !path.starts_with('/') {
        return Err("a guest path must be absolute, such as \"/data\"");
    }
    if path.contains('\0') {
        return Err("a guest path cannot contain a NUL character");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("a guest path cannot contain `..`; write the directory it names"),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("/srv/actors"))
    }

    fn kind(text: &str) -> ManifestErrorKind {
        *parse(text).expect_err("the manifest was accepted").kind
    }

    fn line_of(text: &str) -> usize {
        parse(text)
            .expect_err("the manifest was accepted")
            .at
            .expect("the error has a place")
            .line
    }

    #[test]
    fn a_name_cannot_read_as_a_pid() {
        for name in ["<local.9.123>", "<x", "local.9.123", "a.b.1.2"] {
            let e = check_name(name).expect_err(name);
            assert!(e.contains("written like a pid"), "{name}: {e}");
        }
        for name in ["calc", "v1.2", "a.b.c", "svc.1.x", "x>", "node-1.2a.3"] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn an_empty_manifest_is_the_default() {
        assert_eq!(parse("").unwrap(), Manifest::default());
        assert_eq!(parse("# nothing\n\n").unwrap(), Manifest::default());
    }

    #[test]
    fn every_key_is_read() {
        let m = parse(
            r#"
            instances = 2
            name = "calc"
            mailbox = 16
            call_timeout_ms = 250
            memory_limit = "8MiB"
            cpu_budget_ms = 95
            [restart]
            policy = "transient"
            max_restarts = 7
            within_secs = 30
            [wasi]
            env = { GREETING = "hello", EMPTY = "" }
            args = ["calc", "-v"]
            [[wasi.dirs]]
            host = "data"
            guest = "/data/"
            [[wasi.dirs]]
            host = "/var/scratch"
            guest = "/scratch"
            mode = "rw"
            "#,
        )
        .unwrap();
        assert_eq!(m.start, Start::Instances(2));
        assert_eq!(m.name.as_deref(), Some("calc"));
        assert_eq!(m.mailbox, Some(16));
        assert_eq!(m.call_timeout, Some(Duration::from_millis(250)));
        assert_eq!(m.memory_limit, Some(8 * 1024 * 1024));
        assert_eq!(m.cpu_budget, Some(Duration::from_millis(95)));
        assert_eq!(
            m.restart,
            RestartPolicy {
                restart: Restart::Transient,
                max_restarts: 7,
                within: Duration::from_secs(30),
            }
        );
        assert_eq!(
            m.wasi.env,
            BTreeMap::from([
                ("EMPTY".to_string(), String::new()),
                ("GREETING".to_string(), "hello".to_string())
            ])
        );
        assert_eq!(m.wasi.args, ["calc", "-v"]);
        assert!(!m.wasi.inherit_args);
        let dirs: Vec<_> = m
            .wasi
            .dirs
            .iter()
            .map(|d| (d.host.clone(), d.guest.as_str(), d.mode, d.at.line))
            .collect();
        assert_eq!(
            dirs,
            [
                (PathBuf::from("/srv/actors/data"), "/data", DirMode::ReadOnly, 15),
                (PathBuf::from("/var/scratch"), "/scratch", DirMode::ReadWrite, 18),
            ]
        );
    }

    #[test]
    fn a_pool_is_read() {
        let m = parse("pool = 4\nname = \"workers\"").unwrap();
        assert_eq!(m.start, Start::Pool(4));
        assert_eq!(m.name.as_deref(), Some("workers"));
    }

    #[test]
    fn instances_may_be_zero_but_not_negative_or_huge() {
        assert_eq!(parse("instances = 0").unwrap().start, Start::Instances(0));
        assert_eq!(
            kind("instances = -1"),
            ManifestErrorKind::OutOfRange {
                key: "instances",
                value: -1,
                min: 0,
                max: MAX_INSTANCES.into()
            }
        );
        assert!(matches!(
            kind("instances = 10001"),
            ManifestErrorKind::OutOfRange { key: "instances", .. }
        ));
    }

    #[test]
    fn a_pool_has_at_least_one_worker() {
        assert_eq!(
            kind("pool = 0"),
            ManifestErrorKind::OutOfRange {
                key: "pool",
                value: 0,
                min: 1,
                max: MAX_POOL.into()
            }
        );
        assert!(matches!(
            kind("pool = 10001"),
            ManifestErrorKind::OutOfRange { key: "pool", .. }
        ));
    }

    #[test]
    fn pool_and_instances_exclude_each_other() {
        let text = "instances = 1\npool = 3\n";
        assert_eq!(kind(text), ManifestErrorKind::PoolAndInstances);
        assert_eq!(line_of(text), 2);
        assert_eq!(
            kind("pool = 2\ninstances = 0"),
            ManifestErrorKind::PoolAndInstances
        );
    }

    #[test]
    fn limits_must_be_in_range() {
        for (text, key) in [
            ("mailbox = 0", "mailbox"),
            ("mailbox = 1000001", "mailbox"),
            ("call_timeout_ms = 0", "call_timeout_ms"),
            ("call_timeout_ms = -5", "call_timeout_ms"),
            ("call_timeout_ms = 86400001", "call_timeout_ms"),
            ("cpu_budget_ms = 0", "cpu_budget_ms"),
            ("cpu_budget_ms = 9223372036854775807", "cpu_budget_ms"),
            ("[restart]\nmax_restarts = -1", "restart.max_restarts"),
            ("[restart]\nwithin_secs = 0", "restart.within_secs"),
        ] {
            match kind(text) {
                ManifestErrorKind::OutOfRange { key: k, .. } => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(parse("mailbox = 1").unwrap().mailbox, Some(1));
        assert_eq!(
            parse("call_timeout_ms = 1").unwrap().call_timeout,
            Some(Duration::from_millis(1))
        );
        assert_eq!(
            parse("[restart]\nmax_restarts = 0").unwrap().restart.max_restarts,
            0
        );
    }

    #[test]
    fn memory_limits_are_sizes_of_at_least_one_mib() {
        for (text, bytes) in [
            ("memory_limit = 1048576", MIB),
            ("memory_limit = \"1MiB\"", MIB),
            ("memory_limit = \"2048 KiB\"", 2 * MIB),
            ("memory_limit = \"4GiB\"", MAX_MEMORY_LIMIT),
            ("memory_limit = \"3145728B\"", 3 * MIB),
            ("memory_limit = \"5242880\"", 5 * MIB),
        ] {
            assert_eq!(parse(text).unwrap().memory_limit, Some(bytes as usize), "{text}");
        }
        assert_eq!(
            kind("memory_limit = 1048575"),
            ManifestErrorKind::MemoryOutOfRange { bytes: 1048575 }
        );
        assert_eq!(
            kind("memory_limit = \"5GiB\""),
            ManifestErrorKind::MemoryOutOfRange {
                bytes: 5 * 1024 * 1024 * 1024
            }
        );
        for text in [
            "memory_limit = \"64MB\"",
            "memory_limit = \"MiB\"",
            "memory_limit = \"\"",
            "memory_limit = \"-1MiB\"",
            "memory_limit = \"1.5GiB\"",
            "memory_limit = \"99999999999999999999999999999999999999999GiB\"",
            "memory_limit = -4",
        ] {
            assert!(matches!(kind(text), ManifestErrorKind::BadSize { .. }), "{text}");
        }
        let e = parse("memory_limit = \"64MB\"").unwrap_err().to_string();
        assert!(e.contains("unknown unit `MB`") && e.contains("MiB"), "{e}");
        assert!(matches!(kind("memory_limit = 1.5"), ManifestErrorKind::Syntax(_)));
    }

    #[test]
    fn names_must_be_registrable() {
        for text in ["name = \"\"", "name = \"calc@elsewhere\""] {
            assert!(matches!(kind(text), ManifestErrorKind::BadName { .. }), "{text}");
        }
        let long = format!("name = \"{}\"", "n".repeat(256));
        assert!(matches!(kind(&long), ManifestErrorKind::BadName { .. }));
    }

    #[test]
    fn guest_paths_must_be_absolute() {
        let text = "[[wasi.dirs]]\nhost = \"data\"\nguest = \"data\"\n";
        assert!(matches!(kind(text), ManifestErrorKind::BadGuestPath { .. }));
        assert_eq!(line_of(text), 3);
        let text = "[[wasi.dirs]]\nhost = \"data\"\nguest = \"/a/../etc\"\n";
        assert!(matches!(kind(text), ManifestErrorKind::BadGuestPath { .. }));
        let m = parse("[[wasi.dirs]]\nhost = \"d\"\nguest = \"//a/./b/\"").unwrap();
        assert_eq!(m.wasi.dirs[0].guest, "/a/b");
        let m = parse("[[wasi.dirs]]\nhost = \"d\"\nguest = \"/\"").unwrap();
        assert_eq!(m.wasi.dirs[0].guest, "/");
    }

    #[test]
    fn a_guest_path_is_granted_once() {
        let text = "[[wasi.dirs]]\nhost = \"a\"\nguest = \"/data\"\n\
                    [[wasi.dirs]]\nhost = \"b\"\nguest = \"/data/\"\n";
        assert_eq!(kind(text), ManifestErrorKind::DuplicateGuestPath("/data".into()));
        assert_eq!(line_of(text), 6);
    }

    #[test]
    fn host_paths_are_not_empty_and_are_joined_to_the_base() {
        assert_eq!(
            kind("[[wasi.dirs]]\nhost = \"\"\nguest = \"/d\""),
            ManifestErrorKind::EmptyHostPath
        );
        let m = parse("[[wasi.dirs]]\nhost = \"../shared\"\nguest = \"/d\"").unwrap();
        assert_eq!(m.wasi.dirs[0].host, Path::new("/srv/actors/../shared"));
    }

    #[test]
    fn dir_modes_are_ro_or_rw() {
        let e = parse("[[wasi.dirs]]\nhost = \"d\"\nguest = \"/d\"\nmode = \"write\"").unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::Syntax(_)));
        assert_eq!(e.at.map(|a| a.line), Some(4));
        let text = e.to_string();
        assert!(text.contains("`ro`") && text.contains("`rw`"), "{text}");
    }

    #[test]
    fn env_keys_are_names() {
        assert!(matches!(
            kind("[wasi]\nenv = { \"\" = \"x\" }"),
            ManifestErrorKind::BadEnvKey { .. }
        ));
        assert!(matches!(
            kind("[wasi]\nenv = { \"A=B\" = \"x\" }"),
            ManifestErrorKind::BadEnvKey { .. }
        ));
        assert!(matches!(
            kind("[wasi]\nenv = { A = 1 }"),
            ManifestErrorKind::Syntax(_)
        ));
    }

    #[test]
    fn args_and_inherit_args_exclude_each_other() {
        assert_eq!(
            kind("[wasi]\nargs = [\"a\"]\ninherit_args = true"),
            ManifestErrorKind::ArgsAndInheritArgs
        );
        let m = parse("[wasi]\nargs = [\"a\"]\ninherit_args = false").unwrap();
        assert_eq!(m.wasi.args, ["a"]);
        assert!(parse("[wasi]\ninherit_args = true").unwrap().wasi.inherit_args);
    }

    #[test]
    fn restart_policies_are_named() {
        for (word, policy) in [
            ("permanent", Restart::Permanent),
            ("transient", Restart::Transient),
            ("temporary", Restart::Temporary),
        ] {
            let m = parse(&format!("[restart]\npolicy = \"{word}\"")).unwrap();
            assert_eq!(m.restart.restart, policy);
        }
        assert!(matches!(
            kind("[restart]\npolicy = \"sometimes\""),
            ManifestErrorKind::Syntax(_)
        ));
        assert_eq!(RestartPolicy::default().restart, Restart::Temporary);
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_located() {
        let e = parse("instances = 1\npol = 3\n").unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::Syntax(_)));
        assert_eq!(e.at, Some(Location { line: 2, column: 1 }));
        assert!(
            e.to_string().starts_with("line 2, column 1: unknown field `pol`"),
            "{e}"
        );
        for text in [
            "[wasi]\nenvs = {}",
            "[restart]\npolcy = \"permanent\"",
            "[[wasi.dirs]]\nhost = \"a\"\nguest = \"/a\"\nmod = \"ro\"",
        ] {
            assert!(matches!(kind(text), ManifestErrorKind::Syntax(_)), "{text}");
        }
        let e = parse("instances = 1\n\nname = \"unterminated\n").unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::Syntax(_)));
        assert_eq!(e.at.map(|a| a.line), Some(3));
        let e = parse("instances = \"two\"").unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::Syntax(_)));
        assert!(parse("pool = 2.5").is_err());
    }

    #[test]
    fn columns_count_characters() {
        let e = parse("name = \"é\" ; x").unwrap_err();
        assert_eq!(e.at.map(|a| a.line), Some(1));
        assert_eq!(Location::of("éé\nab", 4), Location { line: 1, column: 3 });
        assert_eq!(Location::of("éé\nab", 6), Location { line: 2, column: 2 });
        // Past the end, or inside a character: no panic.
        assert_eq!(Location::of("ab", 99), Location { line: 1, column: 3 });
        assert_eq!(Location::of("é", 1).line, 1);
    }

    #[test]
    fn a_read_error_names_the_file() {
        let e = Manifest::read(Path::new("/nonexistent/dir/calc.toml")).unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::Read(_)));
        assert!(
            e.to_string()
                .starts_with("/nonexistent/dir/calc.toml: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn missing_dirs_are_found_when_applied_not_when_parsed() {
        let m = parse("[[wasi.dirs]]\nhost = \"/nonexistent/wactor-grant\"\nguest = \"/d\"").unwrap();
        let e = m.check_dirs().unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::MissingDir { .. }), "{e}");
        assert_eq!(e.at.map(|a| a.line), Some(1));
    }
}
