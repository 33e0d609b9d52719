//! Loads a model saved from Python (`model.save(path)`) and runs it natively: no Python, no
//! interpreter, just this crate. Inputs come from a safetensors file holding tensors `x0`,
//! `x1`, ... (one per model input, as `safetensors.numpy.save_file({"x0": x})` writes them);
//! the predictions are printed as JSON, one list per output.
//!
//!     cargo run --release -p ferrograd --example load_and_predict -- model.safetensors inputs.safetensors

use std::path::Path;

use ferrograd::saving;
use ferrograd::Tensor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err(format!(
            "usage: {} MODEL.safetensors INPUTS.safetensors",
            args.first().map_or("load_and_predict", String::as_str)
        )
        .into());
    }
    let model = saving::load_model(Path::new(&args[1]))?;
    let inputs = saving::file::read(Path::new(&args[2]))?;
    let count = model.graph().inputs().len();
    let mut x = Vec::with_capacity(count);
    for i in 0..count {
        let storage = inputs
            .tensor(&format!("x{i}"))
            .ok_or_else(|| format!("{} has no tensor 'x{i}' for model input {i}", args[2]))?;
        x.push(Tensor::from_storage(storage.clone(), false));
    }
    let outputs = model.predict(&x, 256, &mut |_, _| true)?;
    let json: Vec<serde_json::Value> = outputs
        .iter()
        .map(|t| {
            serde_json::json!({
                "shape": t.shape(),
                "values": t.to_f64().iter().copied().collect::<Vec<f64>>(),
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(json));
    Ok(())
}
