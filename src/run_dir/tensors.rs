//! Safetensors files: saved atomically, and read back with every tensor checked (present, the
//! expected shape, a float dtype, finite), so a damaged or foreign file is refused by name.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::atomic::write_atomic_with;
use crate::error::{Error, Result};
use crate::model::params::Params;

/// Save named tensors as safetensors, atomically; returns the checksum of the bytes written
/// ([`super::checksums::digest`]).
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<String> {
    let bytes = safetensors::serialize(tensors, None)
        .map_err(|e| Error::checkpoint(path, format!("cannot serialise: {e}")))?;
    write_atomic_with(path, |file, tmp| {
        file.write_all(&bytes).map_err(|e| Error::io(tmp, e))
    })?;
    Ok(super::checksums::digest(&bytes))
}

/// Read a safetensors file onto `device`.
pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::checkpoint(path, "missing"));
    }
    candle_core::safetensors::load(path, device)
        .map_err(|e| Error::checkpoint(path, format!("not a readable safetensors file ({e})")))
}

/// Set every parameter from the file at `path`: the names must match exactly, the shapes too,
/// and the dtype must be a float type.
pub fn load_params(params: &Params, path: &Path, device: &Device) -> Result<()> {
    let mut tensors = load_tensors(path, device)?;
    for (name, var) in &params.vars {
        var.set(&take_checked(&mut tensors, name, var.as_tensor(), path)?)?;
    }
    reject_extra(&tensors, path)
}

/// Remove tensor `key` from a loaded file and check it can stand in for `like`: present, the
/// same shape, a float dtype, finite. Returned in `like`'s dtype and on its device.
pub fn take_checked(
    tensors: &mut HashMap<String, Tensor>,
    key: &str,
    like: &Tensor,
    path: &Path,
) -> Result<Tensor> {
    let bad = |msg: String| Error::checkpoint(path, msg);
    let t = tensors
        .remove(key)
        .ok_or_else(|| bad(format!("missing tensor {key}")))?;
    if t.dims() != like.dims() {
        return Err(bad(format!(
            "tensor {key} has shape {:?}, the model expects {:?}",
            t.dims(),
            like.dims()
        )));
    }
    if !matches!(
        t.dtype(),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64
    ) {
        return Err(bad(format!(
            "tensor {key} has dtype {:?}, expected a float type",
            t.dtype()
        )));
    }
    let t = t.to_dtype(like.dtype())?.to_device(like.device())?;
    if !all_finite(&t)? {
        return Err(bad(format!("tensor {key} holds NaN or infinite values")));
    }
    Ok(t)
}

/// Everything in a loaded file must have been taken: an extra tensor means another model.
pub fn reject_extra(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    match tensors.keys().min() {
        Some(extra) => Err(Error::checkpoint(
            path,
            format!("unexpected tensor {extra} (a different model?)"),
        )),
        None => Ok(()),
    }
}

/// True when no entry of `t` is NaN or infinite.
pub fn all_finite(t: &Tensor) -> Result<bool> {
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    Ok(v.iter().all(|x| x.is_finite()))
}
