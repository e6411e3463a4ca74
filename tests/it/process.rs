//! The real `coupons` binary as a child process: started on a database with extra
//! environment, its output captured in a file, stopped with SIGTERM or SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_coupons");

/// A running `coupons serve`; killed on drop.
pub struct Process {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
}

impl Process {
    /// Starts the binary with a clean environment plus `env`, listening on a free port,
    /// and waits for its "Listening on" line.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_in(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            Some(database_url),
            env,
        )
    }

    /// [`Process::start`], in the working directory `dir`; with no `database_url`, on
    /// the default (`coupons.db` in `dir`).
    pub fn start_in(dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "coupons-process-{}-{}.log",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("COUPONS_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let mut process = Self {
            child,
            base: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        process.base = loop {
            let text = process.output();
            // The banner is whole (address, first admin key) once its last line is out.
            if text.lines().any(|l| l.starts_with("Press Ctrl-C"))
                && let Some(line) = text.lines().find(|l| l.starts_with("Listening on "))
            {
                break line.trim_start_matches("Listening on ").trim().to_owned();
            }
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("the server exited ({status}): {text}");
            }
            assert!(Instant::now() < deadline, "server did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        process
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a GraphQL request with `key`.
    pub async fn graphql(&self, key: &str, query: &str, variables: Value) -> Value {
        self.post(key, &json!({ "query": query, "variables": variables }))
            .await
    }

    /// Posts a JSON body to `/graphql` with `key`; the answer's JSON.
    pub async fn post(&self, key: &str, body: &Value) -> Value {
        reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Waits for the process to exit (at most `within`); its status and output.
    pub fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.output());
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {within:?}: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status and output.
    pub fn stop(self) -> (ExitStatus, String) {
        self.terminate();
        self.wait(Duration::from_secs(30))
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(self) {
        self.signal("-KILL");
        let _ = self.wait(Duration::from_secs(10));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
