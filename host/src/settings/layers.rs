//! The four layers and the raw value each setting ends up with, before typing.

use super::vars::{self, Var, CONFIG_VAR};
use super::{parse_duration, SettingsError};
use crate::redact::redact;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// The most a config file may hold: far beyond a file of every setting with comments, and
/// small enough that a wrong path (a disk image, /dev/zero) is refused, not read.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// Settings given as flags: each setting's name and the value the command line gave it.
pub type Flags = Vec<(&'static str, String)>;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env,
    Flag,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env => f.write_str("environment"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Each setting's raw value and its source. An empty value counts as not given at that
/// layer, as it always has for the environment.
#[derive(Debug)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
    /// Which settings were read: the tests check that every setting is used.
    read: Mutex<BTreeSet<&'static str>>,
}

impl Layers {
    /// Stacks the layers: `flags` over `env` over the config file over the defaults. The
    /// config file is `config_file` (the `--config` flag), else `ATTACH_CONFIG` from `env`.
    ///
    /// A value given empty is given: it hides the layers below it. For most settings it is
    /// then refused when read (an empty `ATTACH_DATABASE_URL` must not quietly mean the
    /// embedded SQLite); for those whose meaning says empty is unset ([`Var::empty_is_unset`])
    /// it stands for the default.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        config_file: Option<PathBuf>,
        flags: Flags,
    ) -> Result<Layers, SettingsError> {
        let (config_file, config_source) = match config_file {
            Some(path) => (Some(path), Source::Flag),
            None => (
                env(CONFIG_VAR).filter(|p| !p.is_empty()).map(PathBuf::from),
                Source::Env,
            ),
        };
        let file = match &config_file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        let mut flags: BTreeMap<&'static str, String> = flags.into_iter().collect();
        let mut values = BTreeMap::new();
        for var in vars::all() {
            let given = if var.name == CONFIG_VAR {
                config_file
                    .as_ref()
                    .map(|p| (p.display().to_string(), config_source.clone()))
            } else if let Some(v) = flags.remove(var.name) {
                Some((v, Source::Flag))
            } else if let Some(v) = env(var.name) {
                Some((v, Source::Env))
            } else {
                file.get(var.name).map(|v| {
                    let path = config_file.clone().unwrap_or_default();
                    (v.clone(), Source::File(path))
                })
            };
            let chosen = match given {
                Some((v, source)) if v.is_empty() && var.empty_is_unset => {
                    var.default.clone().map(|d| (d, source))
                }
                Some(given) => Some(given),
                None => var.default.clone().map(|v| (v, Source::Default)),
            };
            if let Some(chosen) = chosen {
                values.insert(var.name, chosen);
            }
        }
        if let Some(name) = flags.keys().next() {
            return Err(SettingsError::Rule(format!("{name} is not a setting")));
        }
        Ok(Layers {
            values,
            read: Mutex::new(BTreeSet::new()),
        })
    }

    /// The value of `name`; `None` when unset. Panics on a name that is not a setting: that
    /// is a bug the tests catch, not an operator's error.
    pub fn get(&self, name: &str) -> Option<&str> {
        let var = vars::find(name).unwrap_or_else(|| panic!("{name} is not a registered setting"));
        self.read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(var.name);
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// Where `name`'s value came from (`None`: unset).
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.values.get(name).map(|(_, s)| s)
    }

    /// `name`'s value through `f`; an unset setting is an error.
    pub fn with<T>(
        &self,
        name: &'static str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SettingsError> {
        let value = self.get(name).ok_or_else(|| SettingsError::Invalid {
            var: name,
            value: String::new(),
            message: "must be set".into(),
        })?;
        f(value).map_err(|message| SettingsError::Invalid {
            var: name,
            // An error message must not carry a password either.
            value: if vars::find(name).is_some_and(|v| v.secret) {
                redact(value)
            } else {
                value.to_owned()
            },
            message,
        })
    }

    pub fn parse<T: FromStr>(&self, name: &'static str) -> Result<T, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        self.with(name, |s| {
            s.trim().parse().map_err(|e: T::Err| e.to_string())
        })
    }

    pub fn duration(&self, name: &'static str) -> Result<Duration, SettingsError> {
        self.with(name, parse_duration)
    }

    /// `1`/`0`, and the other spellings the flags always took: `true`/`false`, `yes`/`no`,
    /// `on`/`off`, `y`/`n`, `t`/`f`, in any case.
    pub fn flag(&self, name: &'static str) -> Result<bool, SettingsError> {
        self.with(name, |s| match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
            "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
            _ => Err("expected 1 or 0".to_owned()),
        })
    }

    /// The settings read so far.
    pub fn read(&self) -> BTreeSet<&'static str> {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every setting with its effective value (secrets redacted) and source, for
    /// `attachd config`.
    pub fn effective(&self) -> Vec<(&'static Var, Option<String>, Option<&Source>)> {
        vars::all()
            .iter()
            .map(|var| {
                let value =
                    self.values.get(var.name).map(
                        |(v, _)| {
                            if var.secret {
                                redact(v)
                            } else {
                                v.clone()
                            }
                        },
                    );
                (var, value, self.source(var.name))
            })
            .collect()
    }
}

/// A config file: `NAME=value` lines, `#` comments, an optional `export ` and quotes around
/// the value, as in `.env` files. An unknown name is refused with its line, so a typo does
/// not silently leave a default in force.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, SettingsError> {
    let fail = |message: String| SettingsError::File {
        path: path.to_owned(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_CONFIG_FILE_BYTES + 1),
        &mut text,
    )
    .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_CONFIG_FILE_BYTES} bytes")));
    }
    let mut values = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        // The line is not echoed: a value pasted without its name may hold a password.
        let (name, value) = line
            .split_once('=')
            .filter(|(name, _)| is_setting_name(name.trim()))
            .ok_or_else(|| fail(format!("line {}: expected ATTACH_NAME=value", i + 1)))?;
        let name = name.trim();
        if name == CONFIG_VAR || vars::find(name).is_none() {
            return Err(fail(format!("line {}: {name} is not a setting", i + 1)));
        }
        let value = unquote(value.trim());
        if values.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(fail(format!("line {}: {name} is set twice", i + 1)));
        }
    }
    Ok(values)
}

fn is_setting_name(name: &str) -> bool {
    name.starts_with("ATTACH_")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A value inside matching quotes is taken as it is; an unquoted one ends at ` #`, where a
/// comment begins, as in `.env` files.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value.split_once(" #").map_or(value, |(v, _)| v.trim_end())
}
