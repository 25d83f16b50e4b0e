//! `--key value` and `--flag` command-line options.

use std::collections::HashMap;

const FLAGS: &[&str] = &["tls", "reconnect", "browser-headers"];

pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut values = HashMap::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            if let Some((k, v)) = key.split_once('=') {
                values.insert(k.to_string(), v.to_string());
            } else if FLAGS.contains(&key) {
                values.insert(key.to_string(), "1".to_string());
            } else {
                let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                values.insert(key.to_string(), v.clone());
            }
        }
        Ok(Args { values })
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn required(&self, key: &str) -> Result<&str, String> {
        self.str(key).ok_or_else(|| format!("--{key} is required"))
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.str(key), Some("1" | "true" | "yes" | "on"))
    }

    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: bad number {v:?}")),
        }
    }

    /// A comma-separated list of numbers.
    pub fn list<T: std::str::FromStr>(&self, key: &str) -> Result<Vec<T>, String> {
        match self.str(key) {
            None | Some("") => Ok(Vec::new()),
            Some(v) => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse()
                        .map_err(|_| format!("--{key}: bad number {s:?}"))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_flags_and_lists() {
        let argv: Vec<String> = ["--streams", "10", "--tls", "--pids=1,2, 3", "--label", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = Args::parse(&argv).unwrap();
        assert_eq!(a.num::<u32>("streams", 0).unwrap(), 10);
        assert!(a.flag("tls"));
        assert!(!a.flag("reconnect"));
        assert_eq!(a.list::<i32>("pids").unwrap(), vec![1, 2, 3]);
        assert_eq!(a.str("label"), Some("x"));
        assert!(Args::parse(&["--url".to_string()]).is_err());
    }
}
