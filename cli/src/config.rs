//! `--config FILE`: `node`'s flags from a TOML file, and `dumpconfig`.
//!
//! The keys are not a second list to keep in step with the flags: every long flag of
//! `node` is a key of the same name (`max-peers = 50`, `bootnodes = ["enode://…"]`,
//! `nodiscover = true`), found by walking clap's definition, so a flag added later has its
//! key at once. The file's values are checked by the flag's own parser, and turned into
//! flags placed after the command line's; a flag given on the command line (or through its
//! environment variable) wins, and the file's value for it is not used at all (a list from
//! the command line replaces the file's list rather than adding to it).
//!
//! An unknown key or a bad value is one error line naming the file, the line and the key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use toml_edit::{Document, Item, Value};

/// The subcommands whose flags a file may set.
const TAKES_CONFIG: [&str; 2] = ["node", "dumpconfig"];
/// The flag naming the file; not a key itself.
const CONFIG: &str = "config";
/// The largest file read: a configuration is a few hundred bytes.
const MAX_FILE: u64 = 1024 * 1024;

/// Why a configuration file was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE`].
    #[error("the config file {} is larger than 1 MiB", path.display())]
    TooLarge { path: PathBuf },
    /// The file is not TOML.
    #[error("{}:{line}: not TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A key that names no flag of `node`.
    #[error("{}:{line}: unknown key \"{key}\" (the keys are node's long flags, e.g. \"max-peers\")", path.display())]
    UnknownKey {
        path: PathBuf,
        line: usize,
        key: String,
    },
    /// A value the flag's parser refuses, or of a TOML type the flag cannot take.
    #[error("{}:{line}: bad value for \"{key}\": {reason}", path.display())]
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        reason: String,
    },
}

/// Returns `argv` with the values of the file named by `--config` appended as flags, for
/// the flags the command line does not give. `argv` is returned unchanged when the command
/// takes no file, names none, or does not parse (the real parse reports that).
pub(crate) fn merge(cmd: &Command, argv: Vec<OsString>) -> Result<Vec<OsString>, ConfigError> {
    let relaxed = cmd.clone().mut_subcommands(|sub| {
        if TAKES_CONFIG.contains(&sub.get_name()) {
            sub.mut_args(|a| a.required(false))
        } else {
            sub
        }
    });
    let Ok(matches) = relaxed.try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(argv);
    };
    if !TAKES_CONFIG.contains(&name) {
        return Ok(argv);
    }
    let Ok(Some(path)) = sub.try_get_one::<PathBuf>(CONFIG) else {
        return Ok(argv);
    };
    // The subcommand exists: `matches` came from it.
    let Some(def) = cmd.find_subcommand(name) else {
        return Ok(argv);
    };
    let text = read(path)?;
    let extra = flags_from(def, sub, path, &text)?;
    let mut argv = argv;
    argv.extend(extra);
    Ok(argv)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_FILE {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    std::fs::read_to_string(path).map_err(read_err)
}

/// The arguments of `def` a file may set: every long flag but `--config` and help.
pub(crate) fn keys(def: &Command) -> impl Iterator<Item = &Arg> {
    def.get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| l != CONFIG && l != "help") && !a.is_global_set())
}

/// The flags `text` (the file at `path`) stands for, leaving out those given in `given`.
fn flags_from(
    def: &Command,
    given: &ArgMatches,
    path: &Path,
    text: &str,
) -> Result<Vec<OsString>, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let doc = Document::parse(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: line_of(e.span().map_or(0, |s| s.start)),
        message: e.message().trim().to_string(),
    })?;
    let table = doc.as_table();
    let mut flags = Vec::new();
    for (key, item) in table.iter() {
        // `iter` yields the table's own keys, so each is there.
        let line = line_of(
            table
                .get_key_value(key)
                .and_then(|(k, _)| k.span())
                .map_or(0, |s| s.start),
        );
        let Some(arg) = keys(def).find(|a| a.get_long() == Some(key)) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                line,
                key: key.to_string(),
            });
        };
        let bad = |reason: String| ConfigError::BadValue {
            path: path.to_path_buf(),
            line,
            key: key.to_string(),
            reason,
        };
        let values = values(arg, item).map_err(|r| bad(r.to_string()))?;
        for v in values.iter().flatten() {
            check(def, arg, v).map_err(bad)?;
        }
        if from_user(given, arg) || conflicts_with_given(def, given, arg) {
            continue;
        }
        for v in values {
            let mut flag = OsString::from("--");
            flag.push(key);
            if let Some(v) = v {
                flag.push("=");
                flag.push(v);
            }
            flags.push(flag);
        }
    }
    Ok(flags)
}

/// Whether the command line (or the flag's environment variable) gave `arg`.
fn from_user(given: &ArgMatches, arg: &Arg) -> bool {
    matches!(
        given.value_source(arg.get_id().as_str()),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// Whether the command line gave a flag that `arg` conflicts with (`--key` and `--keyfile`):
/// the command line's choice stands and the file's is dropped.
fn conflicts_with_given(def: &Command, given: &ArgMatches, arg: &Arg) -> bool {
    keys(def).any(|other| {
        from_user(given, other)
            && (def.get_arg_conflicts_with(arg).contains(&other)
                || def.get_arg_conflicts_with(other).contains(&arg))
    })
}

/// What a flag's occurrences should be for `item`: `Some(value)` per `--key=value`, `None`
/// for a bare `--key` (a switch set to true). A switch set to false gives none.
fn values(arg: &Arg, item: &Item) -> Result<Vec<Option<String>>, &'static str> {
    let Some(value) = item.as_value() else {
        return Err("expected a value, not a table");
    };
    if !arg.get_action().takes_values() {
        return match value.as_bool() {
            Some(true) => Ok(vec![None]),
            Some(false) => Ok(vec![]),
            None => Err("expected true or false"),
        };
    }
    let many = matches!(arg.get_action(), ArgAction::Append);
    match value {
        Value::Array(items) if many => items.iter().map(|v| scalar(v).map(Some)).collect(),
        Value::Array(_) => Err("expected one value, not a list"),
        v => Ok(vec![Some(scalar(v)?)]),
    }
}

/// A string, number or boolean as the text a flag would carry.
fn scalar(value: &Value) -> Result<String, &'static str> {
    match value {
        Value::String(s) => Ok(s.value().clone()),
        Value::Integer(i) => Ok(i.value().to_string()),
        Value::Float(f) => Ok(f.value().to_string()),
        Value::Boolean(b) => Ok(b.value().to_string()),
        _ => Err("expected a string, a number or a boolean"),
    }
}

/// Runs the flag's own parser on `value` (each comma-separated part, for a flag that
/// splits on commas); the error's first line.
fn check(def: &Command, arg: &Arg, value: &str) -> Result<(), String> {
    let parts: Vec<&str> = match arg.get_value_delimiter() {
        Some(d) => value.split(d).collect(),
        None => vec![value],
    };
    // The flag alone, parsed by a copy of the command that requires nothing else.
    let alone = def
        .clone()
        .mut_args(|a| a.required(false))
        .no_binary_name(true);
    for part in parts {
        let flag = format!("--{}={part}", arg.get_long().unwrap_or_default());
        if let Err(e) = alone.clone().try_get_matches_from([flag]) {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid value");
            return Err(first.trim_start_matches("error: ").to_string());
        }
    }
    Ok(())
}

/// `dumpconfig`: the effective configuration as TOML, one key per flag; flags without a
/// value are listed as comments, so the file shows every key there is.
pub(crate) fn dump(def: &Command, matches: &ArgMatches) -> String {
    let mut out = String::from("# peerwire node configuration (`peerwire node --config FILE`)\n");
    for arg in keys(def) {
        let id = arg.get_id().as_str();
        // `keys` yields long flags only.
        let key = arg.get_long().unwrap_or(id);
        if !arg.get_action().takes_values() {
            let on = matches.get_flag(id);
            out.push_str(&format!("{key} = {on}\n"));
            continue;
        }
        let raw: Vec<String> = matches
            .get_raw(id)
            .map(|vals| vals.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        if raw.is_empty() {
            out.push_str(&format!("# {key} =\n"));
            continue;
        }
        let many = matches!(arg.get_action(), ArgAction::Append);
        let rendered: Vec<String> = raw.iter().map(|v| toml_value(v)).collect();
        if many {
            out.push_str(&format!("{key} = [{}]\n", rendered.join(", ")));
        } else {
            out.push_str(&format!("{key} = {}\n", rendered.join("")));
        }
    }
    out
}

/// A number as a TOML integer, anything else as a TOML string.
fn toml_value(text: &str) -> String {
    if text.parse::<i64>().is_ok() {
        text.to_string()
    } else {
        Value::from(text).to_string().trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use clap::CommandFactory;

    use super::*;

    /// A valid value for each flag of `node`. A flag added to `node` needs one here: the test
    /// below fails naming it until it has.
    fn sample(long: &str) -> Option<&'static str> {
        Some(match long {
            "listen" => "\"127.0.0.1:30999\"",
            "key" => "\"4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\"",
            "keyfile" | "datadir" | "blobs" | "rpc-secret" | "ipc" => "\"/var/lib/peerwire/x\"",
            "peer" | "bootnodes" => "[\"enode://1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439@10.3.58.6:30303\"]",
            "max-peers" => "7",
            "nat-lease" => "600",
            "name" => "\"sample/1\"",
            "nat" => "\"extip:203.0.113.9\"",
            "metrics" | "rpc" => "\"127.0.0.1:9999\"",
            "dns-discovery" => "[\"enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org\"]",
            // EIP-778's example record.
            "v5-bootnodes" => "[\"enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8\"]",
            _ => return None,
        })
    }

    fn node() -> Command {
        let mut cmd = crate::Cli::command();
        cmd.build();
        cmd.find_subcommand("node").unwrap().clone()
    }

    fn merged(extra_args: &[&str], file: &str) -> Result<ArgMatches, String> {
        let dir = std::env::temp_dir().join(format!(
            "peerwire-config-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["peerwire".into(), "node".into()];
        argv.extend(extra_args.iter().map(OsString::from));
        argv.push("--config".into());
        argv.push(path.clone().into());
        let cmd = crate::Cli::command();
        let result = merge(&cmd, argv)
            .map_err(|e| e.to_string())
            .and_then(|argv| cmd.try_get_matches_from(argv).map_err(|e| e.to_string()))
            .map(|m| m.subcommand_matches("node").unwrap().clone());
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn every_node_flag_is_settable_from_the_file() {
        let node = node();
        let mut count = 0;
        for arg in keys(&node) {
            let long = arg.get_long().unwrap();
            let id = arg.get_id().as_str();
            count += 1;
            let (file, extra): (String, &[&str]) = if !arg.get_action().takes_values() {
                (format!("{long} = true\n"), &["--listen", "127.0.0.1:1"])
            } else {
                let value = sample(long)
                    .unwrap_or_else(|| panic!("add a sample value for --{long} to this test"));
                let listen: &[&str] = if long == "listen" {
                    &[]
                } else {
                    &["--listen", "127.0.0.1:1"]
                };
                (format!("{long} = {value}\n"), listen)
            };
            let m = merged(extra, &file).unwrap_or_else(|e| panic!("--{long}: {e}"));
            assert_eq!(
                m.value_source(id),
                Some(ValueSource::CommandLine),
                "--{long}"
            );
            if arg.get_action().takes_values() {
                let raw: Vec<String> = m
                    .get_raw(id)
                    .unwrap()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                let doc = Document::parse(file.as_str()).unwrap();
                let expected = values(arg, &doc.as_table()[long]).unwrap();
                let expected: Vec<String> = expected.into_iter().flatten().collect();
                assert_eq!(raw, expected, "--{long}");
            } else {
                assert!(m.get_flag(id), "--{long}");
            }
        }
        assert!(count >= 10, "only {count} keys found");
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let file = "listen = \"127.0.0.1:1\"\nmax-peers = 9\nname = \"from-file\"\npeer = [\"enode://1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439@10.3.58.6:30303\"]\n";
        let m = merged(&["--max-peers", "3"], file).unwrap();
        assert_eq!(m.get_one::<usize>("max_peers"), Some(&3));
        assert_eq!(
            m.get_one::<String>("name").map(String::as_str),
            Some("from-file")
        );
        assert_eq!(m.get_raw("peers").unwrap().count(), 1);
        // A flag conflicting with one the command line gives is dropped from the file.
        let keyed = format!("{file}keyfile = \"/nonexistent\"\n");
        let hex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
        let m = merged(&["--key", hex], &keyed).unwrap();
        assert_eq!(m.value_source("keyfile"), None);
        // A list on the command line replaces the file's.
        let other = format!(
            "enode://{}@10.3.58.7:30303",
            peerwire::crypto::NodeKey::random().id()
        );
        let m = merged(&["--peer", &other], file).unwrap();
        let peers: Vec<_> = m.get_raw("peers").unwrap().collect();
        assert_eq!(peers, [OsStr::new(&other)]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line_and_the_key() {
        let e = merged(&[], "listen = \"127.0.0.1:1\"\n\nmax-peer = 3\n").unwrap_err();
        assert!(
            e.ends_with(
                ":3: unknown key \"max-peer\" (the keys are node's long flags, e.g. \"max-peers\")"
            ),
            "{e}"
        );
        let e = merged(&[], "listen = \"127.0.0.1:1\"\nmax-peers = \"many\"\n").unwrap_err();
        assert!(
            e.contains(":2: bad value for \"max-peers\": invalid value 'many'"),
            "{e}"
        );
        let e = merged(&[], "nodiscover = \"yes\"\n").unwrap_err();
        assert!(
            e.ends_with(":1: bad value for \"nodiscover\": expected true or false"),
            "{e}"
        );
        let e = merged(&[], "listen = [\"127.0.0.1:1\"]\n").unwrap_err();
        assert!(
            e.ends_with(":1: bad value for \"listen\": expected one value, not a list"),
            "{e}"
        );
        let e = merged(&[], "listen = \"127.0.0.1:1\"\n[rpc]\naddr = 1\n").unwrap_err();
        assert!(
            e.contains(":2: bad value for \"rpc\": expected a value, not a table"),
            "{e}"
        );
        let e = merged(&[], "listen = \n").unwrap_err();
        assert!(e.contains(":1: not TOML"), "{e}");
        let e = merged(&[], "config = \"x\"\n").unwrap_err();
        assert!(e.contains(":1: unknown key \"config\""), "{e}");
    }

    #[test]
    fn dumpconfig_output_reads_back_as_the_same_configuration() {
        let file = "listen = \"127.0.0.1:1\"\nmax-peers = 9\nname = \"with \\\"quotes\\\"\"\nnodiscover = true\nbootnodes = [\"enode://1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439@10.3.58.6:30303\"]\n";
        let node = node();
        let first = dump(&node, &merged(&[], file).unwrap());
        assert!(first.contains("max-peers = 9\n"), "{first}");
        assert!(first.contains("nodiscover = true\n"), "{first}");
        assert!(first.contains("# datadir =\n"), "{first}");
        assert!(first.contains("name = 'with \"quotes\"'\n"), "{first}");
        let second = dump(&node, &merged(&[], &first).unwrap());
        assert_eq!(first, second);
    }
}
