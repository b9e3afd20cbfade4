//! Paths and the two file formats (see the crate docs).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use store_core::{ConnectionId, Endpoint, Metadata, Result, RoomName};

use crate::error::{corrupt, map_io_error};

/// What `conns/<id>` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The room, to find the `rooms/` entry when the record changes.
    pub room: RoomName,
    /// Push-back address of the gateway node.
    pub endpoint: Endpoint,
    /// Caller-supplied facts, returned by `get`.
    pub metadata: Metadata,
    /// Lease expiry, epoch ms of the store clock.
    pub expires_at_ms: u64,
}

/// The store's two directories.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// `<base>/conns`.
    conns: PathBuf,
    /// `<base>/rooms`.
    rooms: PathBuf,
}

impl Paths {
    /// Creates both directories under `base` when missing.
    pub fn create(base: &Path) -> Result<Self> {
        let paths = Paths {
            conns: base.join("conns"),
            rooms: base.join("rooms"),
        };
        fs::create_dir_all(&paths.conns).map_err(map_io_error)?;
        fs::create_dir_all(&paths.rooms).map_err(map_io_error)?;
        Ok(paths)
    }

    pub fn conns(&self) -> &Path {
        &self.conns
    }

    pub fn record(&self, id: &ConnectionId) -> PathBuf {
        self.conns.join(id.as_str())
    }

    pub fn room(&self, room: &RoomName) -> PathBuf {
        self.rooms.join(room.as_str())
    }

    pub fn rooms(&self) -> &Path {
        &self.rooms
    }
}

/// Reads a record; `None` when there is none.
pub(crate) fn read_record(path: &Path) -> Result<Option<Record>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| corrupt(path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(map_io_error(e)),
    }
}

/// Writes a record in place (through a temporary file and a rename).
pub(crate) fn write_record(path: &Path, record: &Record) -> Result<()> {
    let bytes = serde_json::to_vec(record).map_err(|e| corrupt(path, e))?;
    write_atomically(path, &bytes)
}

/// Writes a room entry: `<expires_at_ms> <endpoint>`.
pub(crate) fn write_entry(
    dir: &Path,
    id: &ConnectionId,
    expires_at_ms: u64,
    endpoint: &Endpoint,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(map_io_error)?;
    write_atomically(
        &dir.join(id.as_str()),
        format!("{expires_at_ms} {endpoint}").as_bytes(),
    )
}

/// Reads a room entry; `None` when it was removed meanwhile. The store wrote it from
/// checked values, so the endpoint is trusted (no re-validation per member of a walk).
pub(crate) fn read_entry(path: &Path) -> Result<Option<(u64, Endpoint)>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(map_io_error(e)),
    };
    let (expiry, endpoint) = text
        .split_once(' ')
        .ok_or_else(|| corrupt(path, "no space"))?;
    let expiry = expiry.parse().map_err(|e| corrupt(path, e))?;
    Ok(Some((expiry, Endpoint::trusted(endpoint))))
}

/// Deletes a file; an absent one is fine (removal is idempotent).
pub(crate) fn delete(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(map_io_error(e)),
        _ => Ok(()),
    }
}

/// The member names of a directory, in ascending byte order, without temporary files;
/// an absent directory has none.
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(map_io_error(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry.map_err(map_io_error)?.file_name();
        let Some(name) = name.to_str() else {
            return Err(corrupt(dir, "a file name that is not UTF-8"));
        };
        if !name.starts_with('.') {
            names.push(name.to_owned());
        }
    }
    names.sort_unstable();
    Ok(names)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&temporary, bytes).map_err(map_io_error)?;
    fs::rename(&temporary, path).map_err(map_io_error)
}
