//! `wactor new NAME [--lang rust|js|python]`: scaffold an actor project
//! from a guest SDK.
//!
//! The templates are in `host/templates/new/` (Rust), `new-js/` and
//! `new-py/`, compiled into the binary.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

const CARGO_TOML: &str = include_str!("../../templates/new/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/new/lib.rs.tmpl");
const README: &str = include_str!("../../templates/new/README.md.tmpl");
const GITIGNORE: &str = include_str!("../../templates/new/gitignore.tmpl");
const MANIFEST: &str = include_str!("../../templates/new/wactor.toml.tmpl");

const JS_ACTOR: &str = include_str!("../../templates/new-js/actor.js.tmpl");
const JS_TEST: &str = include_str!("../../templates/new-js/actor.test.js.tmpl");
const JS_PACKAGE: &str = include_str!("../../templates/new-js/package.json.tmpl");
const JS_README: &str = include_str!("../../templates/new-js/README.md.tmpl");
const JS_GITIGNORE: &str = include_str!("../../templates/new-js/gitignore.tmpl");
const JS_MANIFEST: &str = include_str!("../../templates/new-js/wactor.toml.tmpl");

const PY_ACTOR: &str = include_str!("../../templates/new-py/actor.py.tmpl");
const PY_TEST: &str = include_str!("../../templates/new-py/test_actor.py.tmpl");
const PY_README: &str = include_str!("../../templates/new-py/README.md.tmpl");
const PY_GITIGNORE: &str = include_str!("../../templates/new-py/gitignore.tmpl");
const PY_MANIFEST: &str = include_str!("../../templates/new-py/wactor.toml.tmpl");

/// The language of a new actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    /// A Rust crate on `guest-sdk/`.
    Rust,
    /// A JavaScript project on `guest-sdk-js/` (componentize-js).
    #[value(alias = "javascript")]
    Js,
    /// A Python project on `guest-sdk-py/` (componentize-py).
    #[value(alias = "py")]
    Python,
}

impl Lang {
    /// The SDK's directory in the repository, and the file that marks it.
    fn sdk(self) -> (&'static str, &'static str) {
        match self {
            Lang::Rust => ("guest-sdk", "Cargo.toml"),
            Lang::Js => ("guest-sdk-js", "package.json"),
            Lang::Python => ("guest-sdk-py", "wactor/__init__.py"),
        }
    }

    /// The files of a new project: (path, template).
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                ("Cargo.toml", CARGO_TOML),
                ("src/lib.rs", LIB_RS),
                ("README.md", README),
                (".gitignore", GITIGNORE),
                ("wactor.toml", MANIFEST),
            ],
            Lang::Js => &[
                ("package.json", JS_PACKAGE),
                ("actor.js", JS_ACTOR),
                ("test/actor.test.js", JS_TEST),
                ("README.md", JS_README),
                (".gitignore", JS_GITIGNORE),
                ("wactor.toml", JS_MANIFEST),
            ],
            Lang::Python => &[
                ("actor.py", PY_ACTOR),
                ("test_actor.py", PY_TEST),
                ("README.md", PY_README),
                (".gitignore", PY_GITIGNORE),
                ("wactor.toml", PY_MANIFEST),
            ],
        }
    }
}

/// The wactor repository this binary was built from.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Create a new actor project: a Rust crate, or a JavaScript or Python
/// project (`--lang`).
///
/// Writes DIR/NAME (DIR is `--path`, by default the current directory): a
/// project on the wactor guest SDK of its language, with a small actor
/// that answers calls with a greeting and handles a message, its unit
/// tests (JavaScript, Python) and a README. Build it with the
/// repository's script:
///
///   scripts/build-guests --crate DIR/NAME --out ACTORS_DIR
///
/// and drop ACTORS_DIR/NAME.wasm into the directory a `wactor run` watches:
/// it starts, registered as NAME (`wactor call NAME world`).
#[derive(clap::Args)]
pub(crate) struct NewArgs {
    /// The actor's name: lowercase letters, digits, `-` and `_`, starting
    /// with a letter. It names the crate, the .wasm file and the registered
    /// actor.
    name: String,
    /// The directory to create the crate in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    path: PathBuf,
    /// The language: `rust` (a crate on `guest-sdk/`), `js` (on
    /// `guest-sdk-js/`, built with componentize-js) or `python` (on
    /// `guest-sdk-py/`, built with componentize-py).
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The guest SDK (`guest-sdk/`, `guest-sdk-js/` or `guest-sdk-py/` of
    /// the wactor repository, after `--lang`). Default: the one of the
    /// repository this binary was built from.
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// Names cargo or the host would refuse or misread.
const RESERVED: [&str; 6] = ["std", "core", "alloc", "test", "proc_macro", "self"];

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !first_ok || !rest_ok || name.len() > 64 {
        anyhow::bail!(
            "`{name}` cannot be an actor name: use up to 64 lowercase letters, digits, `-` and `_`, \
             starting with a letter (for example `greeter` or `order-book`)"
        );
    }
    if RESERVED.contains(&name) {
        anyhow::bail!("`{name}` is the name of a Rust built-in crate; pick another name");
    }
    Ok(())
}

/// `order-book` → `OrderBook`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A TOML basic string's contents.
fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{{{k}}}}}"), v)
    })
}

/// A JSON string's contents.
fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(crate) fn new(args: NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let (sdk_dir, sdk_marker) = args.lang.sdk();
    let sdk = args.sdk.clone().unwrap_or_else(|| repo_root().join(sdk_dir));
    let sdk = sdk
        .canonicalize()
        .ok()
        .filter(|p| p.join(sdk_marker).is_file())
        .with_context(|| {
            format!(
                "the guest SDK is not at {}; pass --sdk with the path of `{sdk_dir}/` in the wactor repository",
                sdk.display()
            )
        })?;
    let dir = args.path.join(&args.name);
    if dir.exists() {
        anyhow::bail!(
            "{} already exists; pick another NAME, or another directory with --path",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let sdk_path = sdk.display().to_string();
    let sdk_text = match args.lang {
        Lang::Rust => toml_escape(&sdk_path),
        Lang::Js | Lang::Python => sdk_path.clone(),
    };
    let sdk_json = json_escape(&sdk_path);
    let dir_text = dir.display().to_string();
    let build_script = repo_root().join("scripts/build-guests").display().to_string();
    let crate_file = args.name.replace('-', "_");
    let type_name = type_name(&args.name);
    let vars = [
        ("name", args.name.as_str()),
        ("sdk", sdk_text.as_str()),
        ("dir", dir_text.as_str()),
        ("build_script", build_script.as_str()),
        ("crate_file", crate_file.as_str()),
        ("type_name", type_name.as_str()),
        ("sdk_json", sdk_json.as_str()),
    ];
    for (file, template) in args.lang.files() {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, fill(template, &vars))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match args.lang {
        Lang::Rust => println!("created the actor crate {}", dir.display()),
        Lang::Js => {
            println!("created the JavaScript actor project {}", dir.display());
            println!("test it:   cd {dir_text} && npm install && npm test");
        }
        Lang::Python => {
            println!("created the Python actor project {}", dir.display());
            println!("test it:   cd {dir_text} && PYTHONPATH={sdk_path} python3 -m unittest");
        }
    }
    println!();
    println!("build it:  {build_script} --crate {dir_text} --out ACTORS_DIR");
    println!(
        "run it:    wactor run ACTORS_DIR   (or drop ACTORS_DIR/{}.wasm into a watched directory)",
        args.name
    );
    println!("call it:   wactor call {} world", args.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_type_names() {
        assert!(check_name("greeter").is_ok());
        assert!(check_name("order-book_2").is_ok());
        for bad in ["", "Greeter", "2fast", "a b", "a/b", "std", "ü"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(type_name("order-book_2"), "OrderBook2");
        assert_eq!(type_name("greeter"), "Greeter");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let vars = [
            ("name", "n"),
            ("sdk", "s"),
            ("dir", "d"),
            ("build_script", "b"),
            ("crate_file", "c"),
            ("type_name", "T"),
            ("sdk_json", "j"),
        ];
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            for (file, t) in lang.files() {
                let out = fill(t, &vars);
                assert!(!out.contains("{{"), "{lang:?} {file}: {out}");
            }
        }
    }
}
