//! A real OpenLDAP `slapd` per test, on loopback, with its own database, schema and TLS
//! certificate.
//!
//! [`Slapd::start`] writes a `slapd.conf` (mdb database `dc=example,dc=test`, the `memberof`
//! overlay so that `memberOf` is kept as real directories keep it), loads the base entries with
//! `slapadd`, creates a throw-away CA and a server certificate for `127.0.0.1` with `openssl`,
//! and runs `slapd -d 0` as a child listening on `ldap://127.0.0.1:P` and `ldaps://127.0.0.1:Q`.
//! [`Slapd::add`] adds entries through the server (so the overlay sees them). The child is
//! killed on drop. A missing `slapd` is installed (Debian's `slapd ldap-utils`) or fails the test
//! loudly; it never skips.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::sshd::{ensure_tool, run};

/// Base DN of the test directory.
pub const BASE: &str = "dc=example,dc=test";
/// Where users live.
pub const PEOPLE: &str = "ou=people,dc=example,dc=test";
/// Where groups live.
pub const GROUPS: &str = "ou=groups,dc=example,dc=test";
/// The directory's administrator (`rootdn`), also used as the service account.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=test";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "slapd-admin-pw";

/// A running slapd.
pub struct Slapd {
    dir: TempDir,
    child: Child,
    /// `ldap://127.0.0.1:P`
    pub url: String,
    /// `ldaps://127.0.0.1:Q`, certificate signed by [`Slapd::ca_file`].
    pub ldaps_url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    /// Start a directory holding `dc=example,dc=test`, `ou=people` and `ou=groups`.
    pub fn start() -> Slapd {
        ensure_tool("/usr/sbin/slapd", "slapd");
        ensure_tool("/usr/bin/ldapadd", "ldap-utils");
        ensure_tool("/usr/bin/openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        fs::create_dir(path("db")).unwrap();
        make_certificates(dir.path());
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {pid}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             maxsize 16777216\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ADMIN_DN}\"\n\
             rootpw {ADMIN_PASSWORD}\n\
             directory {db}\n\
             overlay memberof\n\
             memberof-group-oc groupOfNames\n\
             memberof-member-ad member\n\
             memberof-memberof-ad memberOf\n\
             memberof-refint true\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by * read\n",
            pid = path("slapd.pid").display(),
            cert = path("server.pem").display(),
            key = path("server.key").display(),
            db = path("db").display(),
        );
        fs::write(path("slapd.conf"), conf).unwrap();
        let base = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n"
        );
        fs::write(path("base.ldif"), base).unwrap();
        run(Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(path("slapd.conf"))
            .arg("-l")
            .arg(path("base.ldif")));
        let (port, tls_port) = (free_port(), free_port());
        let url = format!("ldap://127.0.0.1:{port}");
        let ldaps_url = format!("ldaps://127.0.0.1:{tls_port}");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-d")
            .arg("0")
            .arg("-f")
            .arg(path("slapd.conf"))
            .arg("-h")
            .arg(format!("{url}/ {ldaps_url}/"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(path("slapd.log")).unwrap())
            .spawn()
            .expect("start slapd");
        let slapd = Slapd {
            dir,
            child,
            url,
            ldaps_url,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "slapd did not listen within 20 s: {}",
                fs::read_to_string(slapd.dir.path().join("slapd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        slapd
    }

    /// PEM file of the CA that signed the server's certificate (for `TESTUM_LDAP_CA_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Add `ldif` (entries separated by blank lines) through the server, as the administrator.
    pub fn add(&self, ldif: &str) {
        self.ldap_tool("/usr/bin/ldapadd", ldif);
    }

    /// Take `member` (a DN) out of group `group` (a DN), through the server.
    pub fn remove_member(&self, group: &str, member: &str) {
        self.ldap_tool(
            "/usr/bin/ldapmodify",
            &format!("dn: {group}\nchangetype: modify\ndelete: member\nmember: {member}\n"),
        );
    }

    /// Delete the entry `dn`, through the server.
    pub fn delete(&self, dn: &str) {
        self.ldap_tool("/usr/bin/ldapdelete", &format!("{dn}\n"));
    }

    /// Run `tool` (ldapadd, ldapmodify, ldapdelete) as the administrator with `ldif` on its stdin.
    fn ldap_tool(&self, tool: &str, ldif: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Add a person `uid` with `password` under [`PEOPLE`]; returns its DN.
    pub fn add_user(&self, uid: &str, password: &str) -> String {
        let dn = format!("uid={uid},{PEOPLE}");
        self.add(&format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n\
             userPassword: {password}\n"
        ));
        dn
    }

    /// Add a `groupOfNames` `cn` under [`GROUPS`] with `members` (DNs); returns its DN.
    pub fn add_group(&self, cn: &str, members: &[&str]) -> String {
        let dn = format!("cn={cn},{GROUPS}");
        let members: String = members.iter().map(|m| format!("member: {m}\n")).collect();
        self.add(&format!(
            "dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n{members}"
        ));
        dn
    }

    /// Write the administrator's password to a file (for `TESTUM_LDAP_BIND_PASSWORD_FILE`).
    pub fn admin_password_file(&self) -> PathBuf {
        let file = self.dir.path().join("bind-password");
        fs::write(&file, format!("{ADMIN_PASSWORD}\n")).unwrap();
        file
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 signed by it (`server.pem`,
/// `server.key`) in `dir`.
fn make_certificates(dir: &Path) {
    let p = |name: &str| dir.join(name);
    run(Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=testum test CA"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("/usr/bin/openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.pem")));
}
