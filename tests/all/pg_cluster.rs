//! A throwaway PostgreSQL server for one test: a new cluster made with the
//! installed `initdb` in a temporary directory, started with `pg_ctl` on a
//! free loopback port, and stopped (its files deleted) when dropped.
//!
//! The server binaries are found in `$PRESEND_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's layout), else on `PATH`. Missing,
//! the test fails saying what to install: never a silent skip. PostgreSQL
//! refuses to run as root, so as root the cluster is made and run by the
//! `postgres` user (Debian's package creates it).
//!
//! Also included by `host/benches/validate.rs`.

use std::path::PathBuf;
use std::process::Command;

/// A running PostgreSQL server, stopped when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Makes and starts a new cluster; panics, naming what to install, when
    /// PostgreSQL's server is not installed.
    pub fn start() -> Cluster {
        let bin = server_bin();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("presend-pg-")
            .tempdir()
            .expect("a temporary directory");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "PostgreSQL refuses to run as root, and there is no `postgres` user to run it – install Debian's `postgresql` package (apt-get install postgresql), which creates one"
            );
        }
        let cluster = Cluster {
            bin,
            port: free_port(),
            as_postgres,
            dir,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `db` (user `postgres`, no password needed).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the throwaway server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a database");
        self.url(name)
    }

    /// A plain client on database `db`, for a test's own queries.
    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls).expect("connect")
    }

    /// Stops the server at once (`pg_ctl stop -m fast`: open sessions are
    /// ended and their transactions rolled back), as when it crashes or is
    /// restarted under a service.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server (again), on the same port, and waits until it
    /// takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Runs one of the server's programs, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}{}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data();
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Where `initdb` and `pg_ctl` are.
fn server_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PRESEND_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server (initdb, pg_ctl) is not installed – install Debian's `postgresql` package (apt-get install postgresql), or set PRESEND_PG_BIN to the folder that holds initdb"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
