//! The bytes on disk: a [safetensors](https://huggingface.co/docs/safetensors) file, written
//! atomically and read with every offset, size and dtype checked before anything is allocated
//! from it.
//!
//! Parsing and validation are the `safetensors` crate's (the reference implementation: header
//! size capped at 100 MB, JSON header, tensors contiguous, in bounds, non-overlapping, their byte
//! lengths equal to their shapes times their dtype's size, the file ending where the last tensor
//! does). On top of it this module converts between its byte views and the engine's
//! [`Storage`] (float16 and bfloat16 tensors widened to float32), reads a source that is not a
//! regular file no further than its header declares, and does the write-to-temporary, flush,
//! sync, rename dance.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use crate::error::{Error, Result};
use crate::tensor::{DType, Storage};

/// A safetensors file in memory: its string metadata and its tensors, in file order.
#[derive(Debug, Clone)]
pub struct TensorFile {
    pub metadata: HashMap<String, String>,
    pub tensors: Vec<(String, Storage)>,
}

impl TensorFile {
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&Storage> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// One tensor as the `safetensors` serializer sees it: little-endian bytes, a dtype, a shape.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Bytes {
    fn of(storage: &Storage) -> Bytes {
        let (dtype, data) = match storage {
            Storage::F32(a) => (Dtype::F32, le_bytes(&a.as_standard_layout())),
            Storage::F64(a) => (Dtype::F64, le_bytes(&a.as_standard_layout())),
        };
        Bytes {
            dtype,
            shape: storage.shape().to_vec(),
            data,
        }
    }
}

/// Little-endian bytes of floats, written into one pre-sized buffer in fixed-size chunks (a
/// shape the compiler turns into plain copies on little-endian machines; an element-by-element
/// `flat_map` made saving several times slower than `torch.save`).
fn le_bytes<F: Float, D: ndarray::Dimension>(
    array: &ndarray::ArrayBase<impl ndarray::Data<Elem = F>, D>,
) -> Vec<u8> {
    let values = array.as_slice().expect("standard layout");
    let mut out = vec![0u8; values.len() * F::SIZE];
    for (chunk, v) in out.chunks_exact_mut(F::SIZE).zip(values) {
        chunk.copy_from_slice(v.le().as_ref());
    }
    out
}

/// The float types a file holds, with their little-endian conversions.
trait Float: Copy {
    const SIZE: usize;
    type Raw: AsRef<[u8]>;
    fn le(self) -> Self::Raw;
}

impl Float for f32 {
    const SIZE: usize = 4;
    type Raw = [u8; 4];
    fn le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
}

impl Float for f64 {
    const SIZE: usize = 8;
    type Raw = [u8; 8];
    fn le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` and `metadata` to `path` atomically: the bytes go to a temporary file in the
/// same directory, which is flushed, synced to disk and then renamed over `path`. A crash, a
/// full disk or an error at any point leaves `path` as it was (the old file, or none) and
/// removes the temporary file. With `overwrite` false an existing `path` is an error.
pub fn write(
    path: &Path,
    tensors: &[(String, Storage)],
    metadata: HashMap<String, String>,
    overwrite: bool,
) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for (name, _) in tensors {
        if !names.insert(name.as_str()) {
            return Err(Error::Format(format!(
                "cannot save two tensors named '{name}' in {}",
                path.display()
            )));
        }
    }
    if !overwrite && path.exists() {
        return Err(Error::Io {
            path: path.display().to_string(),
            kind: std::io::ErrorKind::AlreadyExists,
            message: "the file exists and overwrite is false".into(),
        });
    }
    let views: Vec<(String, Bytes)> = tensors
        .iter()
        .map(|(name, s)| (name.clone(), Bytes::of(s)))
        .collect();
    let bytes =
        safetensors::tensor::serialize(views.iter().map(|(n, b)| (n.as_str(), b)), Some(metadata))
            .map_err(|e| Error::Format(format!("cannot serialize {}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Where a write to `path` lands: the file a symbolic link points to (as `open()` writes through
/// a link), so that saving replaces the target and keeps the link.
fn write_target(path: &Path) -> std::path::PathBuf {
    let mut target = path.to_path_buf();
    // A bounded walk: a cycle of links ends here and the rename then fails with the OS's error.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&target) {
                Ok(next) if next.is_absolute() => target = next,
                Ok(next) => {
                    target = target
                        .parent()
                        .map_or(next.clone(), |parent| parent.join(&next))
                }
                Err(_) => break,
            },
            _ => break,
        }
    }
    target
}

/// Removes the temporaries earlier writes of `file_name` left in `directory` when their process
/// died before renaming them (`.{file_name}.{pid}.{random}.tmp`, the process gone). A live
/// writer's temporary is kept. Only where `/proc` tells which processes run.
fn remove_stale_temporaries(directory: &Path, file_name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{file_name}.");
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `bytes` to `path` through a synced temporary file and a rename. The temporary's name holds
/// the writer's process id, so that the next save of the same file removes it if a killed
/// process left it behind.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = write_target(path);
    let path = target.as_path();
    let directory = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Format(format!("{} does not name a file", path.display())))?;
    let file_name = file_name.to_string_lossy();
    remove_stale_temporaries(directory, &file_name);
    let prefix = format!(".{file_name}.{}.", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A new file gets the mode any program's new file gets (0666 less the umask), not
    // tempfile's private 0600; a replaced file keeps its own mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder
        .tempfile_in(directory)
        .map_err(|e| Error::io(path, &e))?;
    if let Ok(old) = std::fs::metadata(path) {
        if old.is_file() {
            temp.as_file()
                .set_permissions(old.permissions())
                .map_err(|e| Error::io(path, &e))?;
        }
    }
    // Dropping `temp` on any error below deletes the temporary file.
    temp.write_all(bytes).map_err(|e| Error::io(path, &e))?;
    temp.flush().map_err(|e| Error::io(path, &e))?;
    temp.as_file().sync_all().map_err(|e| Error::io(path, &e))?;
    temp.persist(path).map_err(|e| Error::io(path, &e.error))?;
    // Make the rename itself durable; not every platform or file system can sync a directory,
    // and the file is complete either way, so a failure here is not an error.
    if let Ok(dir) = std::fs::File::open(directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Reads and validates a safetensors file. Errors name the file and what is wrong with it;
/// a file that is not there is an [`Error::Io`] of kind `NotFound`.
pub fn read(path: &Path) -> Result<TensorFile> {
    let invalid = |message: String| {
        Error::Format(format!(
            "{} is not a valid safetensors file: {message}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    let bytes = if regular {
        // A regular file's size bounds what reading it allocates; the parser checks the rest.
        std::fs::read(path).map_err(|e| Error::io(path, &e))?
    } else {
        read_bounded(file, path).map_err(|e| match e {
            Bounded::Io(e) => Error::io(path, &e),
            Bounded::Invalid(message) => invalid(message),
        })?
    };
    parse(&bytes).map_err(invalid)
}

/// The safetensors crate's limit on the JSON header.
const MAX_HEADER_BYTES: u64 = 100_000_000;

enum Bounded {
    Io(std::io::Error),
    Invalid(String),
}

/// The bytes of a safetensors file that is not a regular file (a device, a pipe), read no
/// further than its header says the file goes: the header length, the header, then the tensor
/// data up to the largest end offset the header declares, as it arrives (never allocated from
/// the claim). A source that never ends (`/dev/zero`) is refused at its header.
fn read_bounded(file: std::fs::File, path: &Path) -> std::result::Result<Vec<u8>, Bounded> {
    use std::io::Read;
    let mut reader = std::io::BufReader::new(file);
    let mut len_bytes = [0u8; 8];
    reader
        .read_exact(&mut len_bytes)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Bounded::Invalid("the file is shorter than the 8-byte header length".into())
            }
            _ => Bounded::Io(e),
        })?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES {
        return Err(Bounded::Invalid(
            "the header length is larger than the 100 MB limit".into(),
        ));
    }
    let mut bytes = len_bytes.to_vec();
    (&mut reader)
        .take(header_len)
        .read_to_end(&mut bytes)
        .map_err(Bounded::Io)?;
    if (bytes.len() as u64) < 8 + header_len {
        return Err(Bounded::Invalid(
            "the header length runs past the end of the file".into(),
        ));
    }
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..])
        .map_err(|e| Bounded::Invalid(format!("its header is not valid JSON: {e}")))?;
    let data_len = header
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, entry)| entry.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let total = 8 + header_len + data_len;
    (&mut reader)
        .take(data_len)
        .read_to_end(&mut bytes)
        .map_err(Bounded::Io)?;
    if (bytes.len() as u64) < total {
        return Err(Bounded::Invalid(format!(
            "{} ends after {} of the {total} bytes its header declares",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Parses the bytes of a safetensors file (see [`read`]); the error is a description.
pub fn parse(bytes: &[u8]) -> std::result::Result<TensorFile, String> {
    let file = SafeTensors::deserialize(bytes).map_err(describe)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(describe)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut tensors = Vec::with_capacity(file.len());
    // File order (by offset), so that round trips keep the order they were written in.
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = file.tensors();
    views.sort_by_key(|(_, v)| v.data().as_ptr() as usize);
    for (name, view) in views {
        let storage = match view.dtype() {
            Dtype::F32 => {
                Storage::from_array(array(view.shape(), view.data(), f32::from_le_bytes)?)
            }
            Dtype::F64 => {
                Storage::from_array(array(view.shape(), view.data(), f64::from_le_bytes)?)
            }
            // Half-precision storage (what mixed-precision training and many published weights
            // keep): widened exactly to float32, the dtype the engine computes in.
            Dtype::F16 => Storage::from_array(array(view.shape(), view.data(), f16_to_f32)?),
            Dtype::BF16 => Storage::from_array(array(view.shape(), view.data(), bf16_to_f32)?),
            other => {
                return Err(format!(
                "tensor '{name}' has dtype {other:?}; ferrograd reads float16, bfloat16, float32 \
                 and float64 tensors"
            ))
            }
        };
        tensors.push((name, storage));
    }
    Ok(TensorFile { metadata, tensors })
}

fn array<F: Copy + Default, const N: usize>(
    shape: &[usize],
    data: &[u8],
    from: fn([u8; N]) -> F,
) -> std::result::Result<ndarray::ArrayD<F>, String> {
    let mut values = vec![F::default(); data.len() / N];
    for (v, c) in values.iter_mut().zip(data.chunks_exact(N)) {
        *v = from(c.try_into().expect("chunks of N bytes"));
    }
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), values)
        .map_err(|e| format!("a tensor's bytes do not fit its shape {shape:?}: {e}"))
}

/// IEEE 754 half precision (little-endian) to f32, exactly: normals and subnormals rescaled,
/// infinities and NaN kept.
fn f16_to_f32(bytes: [u8; 2]) -> f32 {
    let bits = u16::from_le_bytes(bytes);
    let sign = if bits & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f32::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f32.powi(exponent - 15),
    }
}

/// bfloat16 (little-endian) to f32: the upper half of an f32's bits.
fn bf16_to_f32(bytes: [u8; 2]) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes(bytes)) << 16)
}

fn describe(err: safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match err {
        E::HeaderTooSmall => "the file is shorter than the 8-byte header length".into(),
        E::HeaderTooLarge => "the header length is larger than the 100 MB limit".into(),
        E::InvalidHeaderLength => "the header length runs past the end of the file".into(),
        E::MetadataIncompleteBuffer => {
            "the file's length does not match its header (truncated or extended)".into()
        }
        other => other.to_string(),
    }
}

/// The dtype of stored tensors as the engine's.
pub(crate) fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float32",
        DType::F64 => "float64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_removes_dead_writers_temporaries_and_writes_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        // No process has id u32::MAX (Linux caps ids far below it); the current one runs.
        let dead = dir
            .path()
            .join(format!(".m.safetensors.{}.abc.tmp", u32::MAX));
        let live = dir
            .path()
            .join(format!(".m.safetensors.{}.abc.tmp", std::process::id()));
        let other = dir
            .path()
            .join(format!(".other.safetensors.{}.abc.tmp", u32::MAX));
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"partial").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists(), "a dead writer's temporary is removed");
        }
        assert!(
            live.exists() && other.exists(),
            "a live writer's and another file's stay"
        );

        #[cfg(unix)]
        {
            let target = dir.path().join("real.safetensors");
            std::fs::write(&target, b"old").unwrap();
            let link = dir.path().join("link.safetensors");
            std::os::unix::fs::symlink("real.safetensors", &link).unwrap();
            write_atomic(&link, b"through").unwrap();
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(std::fs::read(&target).unwrap(), b"through");
        }
    }

    #[test]
    fn half_precision_widens_exactly() {
        // Reference bit patterns from IEEE 754 binary16 and bfloat16.
        for (bits, value) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0001, 5.960_464_5e-8),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f32(bits.to_le_bytes()), value, "{bits:#06x}");
        }
        assert_eq!(f16_to_f32(0x7c00u16.to_le_bytes()), f32::INFINITY);
        assert!(f16_to_f32(0x7e00u16.to_le_bytes()).is_nan());
        assert_eq!(bf16_to_f32(0x3f80u16.to_le_bytes()), 1.0);
        assert_eq!(bf16_to_f32(0xc040u16.to_le_bytes()), -3.0);
    }

    #[test]
    fn reading_stops_where_the_header_says_the_file_ends() {
        let dir = tempfile::tempdir().unwrap();
        // A header claiming far more data than the file holds is refused before reading it.
        let header = br#"{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0u8; 16]);
        let path = dir.path().join("short.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("does not match its header"), "{err}");
        // A source that never ends is read to its header only: zeros are an empty header.
        if Path::new("/dev/zero").exists() {
            let err = read(Path::new("/dev/zero")).unwrap_err().to_string();
            assert!(err.contains("not valid JSON"), "{err}");
        }
    }
    use ndarray::ArrayD;

    fn f32s(shape: &[usize], values: Vec<f32>) -> Storage {
        Storage::from_array(ArrayD::from_shape_vec(ndarray::IxDyn(shape), values).unwrap())
    }

    #[test]
    fn round_trip_keeps_values_dtypes_order_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let tensors = vec![
            (
                "b/kernel".to_string(),
                f32s(&[2, 3], (0..6).map(|v| v as f32 * 0.5).collect()),
            ),
            (
                "a/bias".to_string(),
                Storage::from_array(ArrayD::from_elem(ndarray::IxDyn(&[4]), -1.25f64)),
            ),
            ("c/scalar".to_string(), f32s(&[], vec![7.0])),
        ];
        let meta = HashMap::from([("format".to_string(), "ferrograd".to_string())]);
        write(&path, &tensors, meta.clone(), true).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.metadata, meta);
        let names: Vec<&str> = back.tensors.iter().map(|(n, _)| n.as_str()).collect();
        // safetensors orders by dtype alignment then name; every tensor is there exactly once.
        assert_eq!(names.len(), 3);
        for (name, storage) in &tensors {
            let got = back.tensor(name).unwrap();
            assert_eq!(got.dtype(), storage.dtype());
            assert_eq!(got.to_f64(), storage.to_f64());
        }
        assert!(write(&path, &tensors, HashMap::new(), false).is_err());
    }

    #[test]
    fn every_truncation_and_a_lying_header_are_clean_errors() {
        let tensors = [("w".to_string(), f32s(&[3], vec![1.0, 2.0, 3.0]))];
        let views: Vec<(String, Bytes)> = tensors
            .iter()
            .map(|(n, s)| (n.clone(), Bytes::of(s)))
            .collect();
        let bytes =
            safetensors::tensor::serialize(views.iter().map(|(n, b)| (n.as_str(), b)), None)
                .unwrap();
        assert!(parse(&bytes).is_ok());
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        // A header length of 2^63: refused before any allocation.
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&(1u64 << 63).to_le_bytes());
        assert!(parse(&huge).is_err());
        // A shape that claims more elements than the bytes hold.
        let text = String::from_utf8_lossy(&bytes).replace("[3]", "[9]");
        assert!(parse(text.as_bytes()).is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, b"old").unwrap();
        // Two tensors with the same name: refused before anything is written.
        let t = f32s(&[1], vec![1.0]);
        let dup = vec![("x".to_string(), t.clone()), ("x".to_string(), t)];
        assert!(write(&path, &dup, HashMap::new(), true).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        // A directory that does not exist: the temporary file cannot even be created.
        let missing = dir.path().join("missing").join("m.safetensors");
        assert!(matches!(
            write_atomic(&missing, b"new"),
            Err(Error::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            })
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the old file remains");
    }
}
