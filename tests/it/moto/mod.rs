//! Test harness: a real S3-compatible server (moto, `pip install 'moto[server]'`, which
//! `make deps` installs) started on a free loopback port as a child process, killed on drop.
//! Starting it never silently skips: a test that needs it fails when it cannot start.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running moto S3 server.
pub struct MotoServer {
    child: Child,
    pub port: u16,
}

impl MotoServer {
    /// Start `moto_server -H 127.0.0.1 -p <free port>` and wait (bounded: 60 s) until it answers.
    pub async fn start() -> MotoServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server (pip install 'moto[server]'; `make deps` does it)");
        let mut server = MotoServer { child, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            if let Ok(response) = http.get(server.endpoint()).send().await
                && response.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Create bucket `name` (object_store cannot create buckets): a plain S3 `PUT /<name>`.
    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .expect("PUT bucket");
        assert!(
            response.status().is_success(),
            "creating bucket {name}: {}",
            response.status()
        );
    }

    /// Options for `OutputArchive::s3` pointing at this server (moto accepts any credentials).
    /// A testum archive in a new bucket `bucket` of this server, at `s3://bucket[/prefix]`.
    pub async fn archive(&self, bucket: &str, prefix: &str) -> testum::archive::OutputArchive {
        self.create_bucket(bucket).await;
        let options = self.options();
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        testum::archive::OutputArchive::s3(&url, options.iter().map(|(k, v)| (*k, v.as_str())))
            .unwrap()
    }

    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "testing".into()),
            ("aws_secret_access_key", "testing".into()),
            ("aws_region", "us-east-1".into()),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
