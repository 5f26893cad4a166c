//! TLS certificates for the tests' private servers, made with the `openssl`
//! command in a temporary directory: a CA, a server certificate it signed,
//! a client certificate it signed, and a second, unrelated CA (the "wrong
//! CA" a client may be given). ECDSA P-256 keys: quick to make, and every
//! client and server here takes them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;

/// The files, all PEM. Removed when dropped.
pub struct Certs {
    dir: tempfile::TempDir,
    /// The CA that signed the server's and the client's certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub wrong_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate whose common name is the user it logs in as.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certs {
    /// Makes a CA, a server certificate valid for the subject alternative
    /// names `server_names` (`DNS:localhost`, `IP:127.0.0.1`), a client
    /// certificate for `client_user`, and a wrong CA.
    pub fn make(server_names: &[&str], client_user: &str) -> anyhow::Result<Certs> {
        let dir = tempfile::Builder::new().prefix("ota-certs").tempdir()?;
        let at = |name: &str| dir.path().join(name);
        ca(dir.path(), "ca", "ota-seed test CA")?;
        ca(dir.path(), "wrong-ca", "ota-seed unrelated CA")?;
        leaf(
            dir.path(),
            "server",
            "ota-seed test server",
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
                server_names.join(",")
            ),
        )?;
        leaf(
            dir.path(),
            "client",
            client_user,
            "extendedKeyUsage=clientAuth\n",
        )?;
        Ok(Certs {
            ca: at("ca.pem"),
            wrong_ca: at("wrong-ca.pem"),
            server_cert: at("server.pem"),
            server_key: at("server.key"),
            client_cert: at("client.pem"),
            client_key: at("client.key"),
            dir,
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A self-signed CA: `{name}.pem`, `{name}.key`.
fn ca(dir: &Path, name: &str, common_name: &str) -> anyhow::Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={common_name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    )
}

/// A key and a certificate signed by `ca`: `{name}.pem`, `{name}.key`, with
/// the extensions `extensions` (one `key=value` a line).
fn leaf(dir: &Path, name: &str, common_name: &str, extensions: &str) -> anyhow::Result<()> {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={common_name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.pem"),
        ],
    )
}

/// Runs `openssl ARGS` in `dir`, bounded.
fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    let out = crate::output_within(
        &mut cmd,
        &format!("openssl {args:?}"),
        Duration::from_secs(60),
    );
    if !out.status.success() {
        bail!(
            "openssl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;
    use anyhow::Context as _;

    /// The chain verifies against its CA and not against the wrong one,
    /// and the server certificate names exactly the names it was given.
    #[test]
    fn certificates_chain_to_their_ca_only() -> anyhow::Result<()> {
        let certs = Certs::make(&["DNS:localhost"], "certuser")?;
        let verify = |ca: &Path, cert: &Path| {
            Command::new("openssl")
                .arg("verify")
                .arg("-CAfile")
                .arg(ca)
                .arg(cert)
                .output()
                .context("openssl verify")
        };
        for cert in [&certs.server_cert, &certs.client_cert] {
            assert!(verify(&certs.ca, cert)?.status.success());
            assert!(!verify(&certs.wrong_ca, cert)?.status.success());
        }
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(&certs.server_cert)
            .output()?;
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("DNS:localhost"), "{text}");
        assert!(!text.contains("IP Address"), "{text}");
        Ok(())
    }
}
