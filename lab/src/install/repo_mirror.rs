//! Package repositories for hosts installed from an ISO under QEMU,
//! served by lab itself inside the lab network.
//!
//! A QEMU lab network routes nowhere (nothing of a lab may reach outside
//! the namespaces lab makes), yet no RHEL-like ISO holds the whole stack:
//! Pacemaker and pcs come from the HighAvailability repository, PostgreSQL
//! from PGDG. So the user keeps local copies of those repositories in one
//! directory (`[qemu] repo_mirror`, one sub-directory per repository, e.g.
//! made by `dnf reposync --download-metadata`), and while the hosts install
//! lab serves that directory over plain HTTP on the host's lab address,
//! from a task of the lab network runtime. The kickstart's `repo` lines
//! point there. Every sub-directory holding `repodata/repomd.xml` is a
//! repository, so a Minimal ISO can be completed with `appstream` too.
//!
//! The server answers `GET` and `HEAD` of files below the directory and
//! nothing else: no listing, no path outside it, one request per
//! connection (what dnf's librepo needs, and nothing a test cannot read).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::install::distro::Repo;
use crate::labnet::LabNet;

/// The file that makes a directory a repository.
const REPOMD: &str = "repodata/repomd.xml";
/// The longest request head the server reads.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("[qemu] repo_mirror {}: cannot read: {source}; give a directory holding one copy per repository", dir.display())]
    Read { dir: PathBuf, source: std::io::Error },
    #[error(
        "[qemu] repo_mirror {}: no repository `{name}` (no {name}/{REPOMD}); the QEMU lab reaches nothing outside, \
         so copy it there first, e.g. `dnf reposync --download-metadata --repoid={name} -p {}` \
         on a host that has it ({baseurl})",
        dir.display(), dir.display()
    )]
    Missing { dir: PathBuf, name: String, baseurl: String },
    #[error(
        "cannot serve the repository mirror on {address} in the lab network: {source}; choose another [qemu] repo_mirror_port"
    )]
    Serve { address: SocketAddr, source: std::io::Error },
}

/// A directory of local repository copies.
#[derive(Clone, Debug)]
pub struct RepoMirror {
    dir: PathBuf,
}

impl RepoMirror {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RepoMirror { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of the repositories in the mirror, sorted.
    pub fn repositories(&self) -> Result<Vec<String>, MirrorError> {
        let read = |source| MirrorError::Read { dir: self.dir.clone(), source };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(read)? {
            let entry = entry.map_err(read)?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if entry.path().join(REPOMD).is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The repositories a kickstart installs from when this mirror is
    /// served at `address`: every one of `needed` (each must be there),
    /// then the mirror's others.
    pub fn repos(&self, needed: &[Repo], address: SocketAddr) -> Result<Vec<Repo>, MirrorError> {
        let present = self.repositories()?;
        if let Some(missing) = needed.iter().find(|repo| !present.contains(&repo.name)) {
            return Err(MirrorError::Missing {
                dir: self.dir.clone(),
                name: missing.name.clone(),
                baseurl: missing.baseurl.clone(),
            });
        }
        let extra = present.iter().filter(|name| !needed.iter().any(|repo| &repo.name == *name));
        let names = needed.iter().map(|repo| &repo.name).chain(extra);
        Ok(names.map(|name| Repo { name: name.clone(), baseurl: format!("http://{address}/{name}/") }).collect())
    }

    /// Serves the mirror at `address` inside the lab network until the
    /// returned guard is dropped.
    pub async fn serve_in(&self, labnet: &LabNet, address: SocketAddr) -> Result<Serving, MirrorError> {
        let bound = labnet.run(TcpListener::bind(address)).await;
        let listener = match bound {
            Ok(Ok(listener)) => listener,
            Ok(Err(source)) => return Err(MirrorError::Serve { address, source }),
            Err(task) => return Err(MirrorError::Serve { address, source: std::io::Error::other(task.to_string()) }),
        };
        tracing::info!(%address, dir = %self.dir.display(), "serving the repository mirror in the lab network");
        Ok(self.serve(listener, labnet.handle()))
    }

    /// Serves the mirror on `listener` until the returned guard is dropped;
    /// `runtime` must be the one the listener was bound on.
    pub fn serve(&self, listener: TcpListener, runtime: &tokio::runtime::Handle) -> Serving {
        let root = self.dir.clone();
        let task = runtime.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let root = root.clone();
                        tokio::spawn(async move {
                            if let Err(error) = answer(stream, &root).await {
                                tracing::debug!(%peer, %error, "repository mirror connection");
                            }
                        });
                    }
                    Err(error) => tracing::warn!(%error, "repository mirror: accept"),
                }
            }
        });
        Serving { task }
    }
}

/// The mirror's server; dropping it stops serving.
#[derive(Debug)]
pub struct Serving {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one request on `stream`.
async fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    tracing::debug!(method, target, "repository mirror request");
    if method != "GET" && method != "HEAD" {
        return reply(&mut stream, "405 Method Not Allowed", None).await;
    }
    let file = match resolve(root, target) {
        Some(path) => tokio::fs::File::open(&path).await.ok(),
        None => None,
    };
    let Some(mut file) = file else {
        return reply(&mut stream, "404 Not Found", None).await;
    };
    let metadata = file.metadata().await?;
    if !metadata.is_file() {
        return reply(&mut stream, "404 Not Found", None).await;
    }
    reply(&mut stream, "200 OK", Some(metadata.len())).await?;
    if method == "GET" {
        tokio::io::copy(&mut file, &mut stream).await?;
    }
    stream.shutdown().await
}

async fn reply(stream: &mut TcpStream, status: &str, length: Option<u64>) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        length.unwrap_or(0)
    );
    stream.write_all(head.as_bytes()).await
}

/// The file below `root` a request target names, if it names one there:
/// percent-escapes decoded, the query dropped, no `..` or other way out.
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let decoded = percent_decode(path)?;
    let relative = Path::new(&decoded);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(relative))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (!decoded.contains('\0')).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn mirror(names: &[&str]) -> (tempfile::TempDir, RepoMirror) {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in names {
            let repodata = dir.path().join(name).join("repodata");
            std::fs::create_dir_all(&repodata).expect("mkdir");
            std::fs::write(repodata.join("repomd.xml"), format!("<repomd>{name}</repomd>\n")).expect("write");
        }
        std::fs::create_dir_all(dir.path().join("not-a-repo")).expect("mkdir");
        let mirror = RepoMirror::new(dir.path());
        (dir, mirror)
    }

    fn needed(names: &[&str]) -> Vec<Repo> {
        names.iter().map(|n| Repo { name: (*n).into(), baseurl: format!("https://example.org/{n}/") }).collect()
    }

    #[test]
    fn the_kickstart_gets_every_needed_repository_then_the_others() {
        let (_dir, mirror) = mirror(&["pgdg15", "appstream", "highavailability", "pgdg-common"]);
        let at = SocketAddr::from((Ipv4Addr::new(192, 168, 89, 1), 8089));
        let repos = mirror.repos(&needed(&["highavailability", "pgdg-common", "pgdg15"]), at).expect("repos");
        let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["highavailability", "pgdg-common", "pgdg15", "appstream"]);
        assert_eq!(repos[0].baseurl, "http://192.168.89.1:8089/highavailability/");
    }

    #[test]
    fn a_missing_repository_is_named_with_how_to_copy_it() {
        let (dir, mirror) = mirror(&["highavailability"]);
        let at = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let error = mirror.repos(&needed(&["highavailability", "pgdg15"]), at).expect_err("missing").to_string();
        assert!(error.contains("no repository `pgdg15` (no pgdg15/repodata/repomd.xml)"), "{error}");
        assert!(error.contains(&format!("--repoid=pgdg15 -p {}", dir.path().display())), "{error}");
        let error = RepoMirror::new("/nonexistent/mirror").repositories().expect_err("unreadable").to_string();
        assert!(error.starts_with("[qemu] repo_mirror /nonexistent/mirror: cannot read"), "{error}");
    }

    #[test]
    fn requests_cannot_leave_the_mirror() {
        let root = Path::new("/m");
        assert_eq!(resolve(root, "/pgdg15/repodata/repomd.xml"), Some(root.join("pgdg15/repodata/repomd.xml")));
        assert_eq!(resolve(root, "/a%20b/x.rpm?x=1"), Some(root.join("a b/x.rpm")));
        for outside in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/etc", "//etc/passwd", "relative", "/%00", "/%zz"] {
            assert_eq!(resolve(root, outside), None, "{outside}");
        }
    }

    /// A real server on loopback, asked as dnf would.
    #[tokio::test]
    async fn files_are_served_and_nothing_else() {
        let (_dir, mirror) = mirror(&["pgdg15"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let at = listener.local_addr().expect("address");
        let _serving = mirror.serve(listener, &tokio::runtime::Handle::current());
        let ask = |request: &'static str| async move {
            let mut stream = TcpStream::connect(at).await.expect("connect");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.expect("read");
            answer
        };
        let got = ask("GET /pgdg15/repodata/repomd.xml HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("Content-Length: 24\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n<repomd>pgdg15</repomd>\n"), "{got}");
        let head = ask("HEAD /pgdg15/repodata/repomd.xml HTTP/1.1\r\n\r\n").await;
        assert!(head.contains("Content-Length: 24\r\n") && head.ends_with("\r\n\r\n"), "{head}");
        for missing in
            ["GET /pgdg15/nothing HTTP/1.1\r\n\r\n", "GET /pgdg15 HTTP/1.1\r\n\r\n", "GET /../x HTTP/1.1\r\n\r\n"]
        {
            assert!(ask(missing).await.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
        }
        assert!(ask("PUT /pgdg15/x HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 405"));
    }
}
