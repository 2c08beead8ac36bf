//! How the dev-server command is launched. `npm run <script>` and `npm start` are run the way
//! npm runs them — the script from `package.json` under `sh -c` in the app directory, with
//! `node_modules/.bin` first on `PATH` and npm's lifecycle variables set — but without npm's
//! own start-up, which costs more than half a second before the script even begins. Anything
//! npm would do besides (a `pre`/`post` hook, arguments, a script it would have to default)
//! leaves the command to npm itself.

use serde_json::Value;

/// A dev-server command ready to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    /// What `sh -c` runs.
    pub(crate) command: String,
    /// Put in front of `PATH` (the app's `node_modules/.bin`), if anything.
    pub(crate) path_prefix: Option<String>,
    /// Variables npm would have set for the script.
    pub(crate) env: Vec<(String, String)>,
}

impl Launch {
    /// `command` as written, run by the shell.
    pub(crate) fn as_written(command: &str) -> Self {
        Self {
            command: command.to_owned(),
            path_prefix: None,
            env: Vec::new(),
        }
    }
}

/// The npm script `command` names: `npm run NAME`, `npm run-script NAME` or `npm start`,
/// with nothing else on the line.
fn npm_script_name(command: &str) -> Option<&str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let name = match words.as_slice() {
        ["npm", "run" | "run-script", name] => *name,
        ["npm", "start"] => "start",
        _ => return None,
    };
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'))
        .then_some(name)
}

/// How `command` is launched in `app_dir`, given the tree's `package.json` (if it has one).
pub(crate) fn launch(command: &str, package_json: Option<&[u8]>, app_dir: &str) -> Launch {
    direct_npm_script(command, package_json, app_dir).unwrap_or_else(|| Launch::as_written(command))
}

fn direct_npm_script(command: &str, package_json: Option<&[u8]>, app_dir: &str) -> Option<Launch> {
    let name = npm_script_name(command)?;
    let package: Value = serde_json::from_slice(package_json?).ok()?;
    let scripts = package.get("scripts")?.as_object()?;
    let script = scripts.get(name)?.as_str()?;
    let hooked = [format!("pre{name}"), format!("post{name}")]
        .iter()
        .any(|hook| scripts.contains_key(hook));
    if hooked || script.trim().is_empty() {
        return None;
    }
    let text = |key: &str| {
        package
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let app_dir = app_dir.trim_end_matches('/');
    let npm_command = if name == "start" {
        "start"
    } else {
        "run-script"
    };
    Some(Launch {
        command: script.to_owned(),
        path_prefix: Some(format!("{app_dir}/node_modules/.bin")),
        env: vec![
            ("npm_lifecycle_event".into(), name.to_owned()),
            ("npm_lifecycle_script".into(), script.to_owned()),
            ("npm_command".into(), npm_command.to_owned()),
            ("npm_package_name".into(), text("name")),
            ("npm_package_version".into(), text("version")),
            ("npm_package_json".into(), format!("{app_dir}/package.json")),
            ("INIT_CWD".into(), app_dir.to_owned()),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE: &[u8] = br#"{"name": "web", "version": "2.1.0",
        "scripts": {"dev": "vite --port 3000", "start": "node server.js",
                    "build": "tsc", "prebuild": "rm -rf dist", "blank": " "}}"#;

    #[test]
    fn npm_run_and_npm_start_run_the_script_itself() {
        let dev = launch("npm run dev", Some(PACKAGE), "/app/");
        assert_eq!(dev.command, "vite --port 3000");
        assert_eq!(dev.path_prefix.as_deref(), Some("/app/node_modules/.bin"));
        let env = |launch: &Launch, key: &str| {
            launch
                .env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(env(&dev, "npm_lifecycle_event").as_deref(), Some("dev"));
        assert_eq!(env(&dev, "npm_package_name").as_deref(), Some("web"));
        assert_eq!(env(&dev, "npm_package_version").as_deref(), Some("2.1.0"));
        assert_eq!(env(&dev, "npm_command").as_deref(), Some("run-script"));

        let start = launch("  npm   start ", Some(PACKAGE), "/app");
        assert_eq!(start.command, "node server.js");
        assert_eq!(env(&start, "npm_command").as_deref(), Some("start"));
        assert_eq!(
            launch("npm run-script dev", Some(PACKAGE), "/app").command,
            "vite --port 3000"
        );
    }

    #[test]
    fn anything_npm_would_do_besides_is_left_to_npm() {
        for (command, package) in [
            // A pre hook.
            ("npm run build", Some(PACKAGE)),
            // Arguments, another tool, a script that isn't there, an empty one.
            ("npm run dev -- --host", Some(PACKAGE)),
            ("npm run dev; rm -rf /", Some(PACKAGE)),
            ("npm run $(evil)", Some(PACKAGE)),
            ("yarn dev", Some(PACKAGE)),
            ("npm run missing", Some(PACKAGE)),
            ("npm run blank", Some(PACKAGE)),
            // No package.json, or one that isn't JSON or has no scripts.
            ("npm run dev", None),
            ("npm run dev", Some(&b"{not json"[..])),
            ("npm run dev", Some(&br#"{"name": "x"}"#[..])),
        ] {
            assert_eq!(
                launch(command, package, "/app"),
                Launch::as_written(command),
                "{command}"
            );
        }
    }
}
