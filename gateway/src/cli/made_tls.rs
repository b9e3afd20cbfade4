//! `--make-tls`: a certificate the node makes for its push API, so that functions written
//! for AWS, which build their endpoint as `https://` + `domainName` + `/` + `stage`, reach
//! it unchanged. The node makes a CA of its own and, signed by it, a certificate for AWS's
//! host name of the API (`{apiId}.execute-api.{region}.amazonaws.com`), `localhost`,
//! `127.0.0.1` and `::1`; the CA goes to its functions (`NODE_EXTRA_CA_CERTS`,
//! `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`), everything into a private folder (0700) of the
//! node's in the temp folder.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::tls::TlsFiles;

/// What `--make-tls` made.
#[derive(Debug, Clone)]
pub struct MadeTls {
    /// The push listener's certificate and key.
    pub files: TlsFiles,
    /// The CA that signed it, PEM (for the functions to trust).
    pub ca: PathBuf,
}

/// The environment that makes a function trust `ca`: Node.js, the AWS SDKs and botocore,
/// Python's `requests`.
pub fn trust(ca: &Path) -> Vec<(String, String)> {
    let ca = ca.display().to_string();
    ["NODE_EXTRA_CA_CERTS", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"]
        .into_iter()
        .map(|name| (name.to_owned(), ca.clone()))
        .collect()
}

/// Makes a CA and a certificate for `host` (and loopback) in a fresh private folder.
pub fn make(host: &str) -> Result<MadeTls, String> {
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("--make-tls: {what}: {e}");
    let dir = std::env::temp_dir().join(format!("wsgw-tls-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| failed(&format!("cannot make {}", dir.display()), &e))?;
    let ca_key = KeyPair::generate().map_err(|e| failed("a CA key", &e))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| failed("the CA", &e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "serverless WebSocket gateway, local CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| failed("the CA", &e))?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(|e| failed("a key", &e))?;
    let names = vec![
        host.to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut params = CertificateParams::new(names).map_err(|e| failed("the certificate", &e))?;
    params.distinguished_name.push(DnType::CommonName, host);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| failed("the certificate", &e))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| failed(&format!("cannot write {}", path.display()), &e))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|e| failed(&format!("cannot write {}", path.display()), &e))?;
        Ok(path)
    };
    Ok(MadeTls {
        files: TlsFiles {
            cert: write("push.pem", &cert.pem())?,
            key: write("push.key", &key.serialize_pem())?,
        },
        ca: write("ca.pem", &ca_cert.pem())?,
    })
}
