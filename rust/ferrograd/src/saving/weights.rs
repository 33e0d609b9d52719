//! Weights and optimizer state between a [`Model`] and the tensors of a file.
//!
//! Every weight is stored under `layer/weight` (Keras's names: `dense/kernel`,
//! `batch_normalization/moving_mean`), each variable once even when a layer is shared; the
//! optimizer's per-variable slots under `optimizer/layer/weight/slot` (`optimizer/dense/kernel/m`).
//! The metadata keeps the weight names in the model's order (safetensors itself sorts tensors),
//! which lets weights load by position into a model whose layers were named differently.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::model::{Graph, Model};
use crate::nn::Weight;
use crate::optim::Optimizer;
use crate::tensor::Storage;

use super::file::TensorFile;

/// Metadata key: the weight names in model order, as a JSON list.
pub const WEIGHT_NAMES: &str = "weight_names";
/// Metadata key: the optimizer's algorithm, step counter and slot names, as JSON.
pub const OPTIMIZER_STATE: &str = "optimizer_state";
/// Prefix of the optimizer's slot tensors.
pub const OPTIMIZER_PREFIX: &str = "optimizer/";

/// `layer/weight` and the weight, for every weight of the graph in model order.
pub fn named_weights(graph: &Graph) -> Vec<(String, Weight)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for layer in graph.layers() {
        for w in layer.weights() {
            if seen.insert(w.value.id()) {
                out.push((format!("{}/{}", layer.name(), w.name), w));
            }
        }
    }
    out
}

/// Named tensors and string metadata, as a file holds them.
pub type State = (Vec<(String, Storage)>, HashMap<String, String>);

/// The tensors and metadata that hold `model`'s weights and, when `include_optimizer` and the
/// model is compiled, its optimizer's state.
pub fn state_tensors(model: &Model, include_optimizer: bool) -> Result<State> {
    let named = named_weights(model.graph());
    let mut names = HashSet::new();
    for (name, _) in &named {
        if !names.insert(name.as_str()) {
            return Err(Error::Format(format!(
                "two weights of the model are both named '{name}': give the layers unique names before saving"
            )));
        }
    }
    let mut tensors: Vec<(String, Storage)> = named
        .iter()
        .map(|(n, w)| (n.clone(), w.value.storage()))
        .collect();
    let mut metadata = HashMap::new();
    let order: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    metadata.insert(WEIGHT_NAMES.to_string(), json_string(&order));
    if let (true, Some(compiled)) = (include_optimizer, model.compiled()) {
        let optimizer = compiled.optimizer.lock().expect("optimizer lock");
        let (slots, state) = optimizer_tensors(&named, &optimizer);
        tensors.extend(slots);
        metadata.insert(OPTIMIZER_STATE.to_string(), state);
    }
    Ok((tensors, metadata))
}

/// The optimizer's slots of these weights as named tensors, and its state as JSON.
pub fn optimizer_tensors(
    named: &[(String, Weight)],
    optimizer: &Optimizer,
) -> (Vec<(String, Storage)>, String) {
    let slot_names = optimizer.slot_names();
    let mut tensors = Vec::new();
    for (name, w) in named {
        for slot in &slot_names {
            if let Some(value) = optimizer.slot(&w.value, slot) {
                tensors.push((format!("{OPTIMIZER_PREFIX}{name}/{slot}"), value.storage()));
            }
        }
    }
    let state = serde_json::json!({
        "algorithm": optimizer.algorithm().name(),
        "iterations": optimizer.iterations(),
        "momentum_product": optimizer.momentum_product(),
        "slots": slot_names,
    });
    (tensors, state.to_string())
}

fn json_string(names: &[&str]) -> String {
    serde_json::Value::from(names.to_vec()).to_string()
}

/// How [`load_weights`] matches the file's tensors to the model's weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Skip weights that are missing from the file or whose shape differs (Keras's
    /// `skip_mismatch`), instead of failing; tensors of the file the model has no weight for
    /// are then ignored too.
    pub skip_mismatch: bool,
    /// Require every name to match (a whole-model file); without it, a file whose names do not
    /// match the model's is loaded by position when the saved order, count and shapes agree.
    pub strict_names: bool,
}

/// What [`load_weights`] did: the weights set and the ones skipped (with the reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub skipped: Vec<(String, String)>,
    pub by_position: bool,
}

/// Sets the model's weights from the file. Everything is checked before any weight changes, so
/// a failed load leaves the model as it was.
pub fn load_weights(model: &Model, file: &TensorFile, options: LoadOptions) -> Result<LoadReport> {
    let named = named_weights(model.graph());
    let stored: HashMap<&str, &Storage> = file
        .tensors
        .iter()
        .filter(|(n, _)| !n.starts_with(OPTIMIZER_PREFIX))
        .map(|(n, s)| (n.as_str(), s))
        .collect();
    let all_named = named.iter().all(|(n, _)| stored.contains_key(n.as_str()));
    let mut plan: Vec<(&Weight, &Storage)> = Vec::new();
    let mut report = LoadReport::default();
    if all_named || options.strict_names || options.skip_mismatch {
        for (name, w) in &named {
            match stored.get(name.as_str()) {
                None if options.skip_mismatch => report
                    .skipped
                    .push((name.clone(), "not in the file".to_string())),
                None => {
                    return Err(Error::Format(format!(
                        "the file has no tensor for weight '{name}' (it holds {}); pass skip_mismatch to load the rest",
                        preview(stored.keys().copied())
                    )))
                }
                Some(s) if s.shape() != w.value.shape().as_slice() => {
                    let why = format!(
                        "shape {:?} in the file, {:?} in the model",
                        s.shape(),
                        w.value.shape()
                    );
                    if !options.skip_mismatch {
                        return Err(Error::Format(format!(
                            "weight '{name}' has {why}; pass skip_mismatch to skip it"
                        )));
                    }
                    report.skipped.push((name.clone(), why));
                }
                Some(s) => {
                    plan.push((w, s));
                    report.loaded.push(name.clone());
                }
            }
        }
        if !options.skip_mismatch {
            let known: HashSet<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
            let extra: Vec<&str> = stored
                .keys()
                .copied()
                .filter(|n| !known.contains(n))
                .collect();
            if !extra.is_empty() {
                return Err(Error::Format(format!(
                    "the file holds weights the model does not have: {}",
                    preview(extra.into_iter())
                )));
            }
        }
    } else {
        let order = saved_order(file)?;
        if order.len() != named.len() {
            return Err(Error::Format(format!(
                "the file holds {} weights and the model has {}, and their names differ (e.g. model '{}'); \
                 the file does not fit this model",
                order.len(),
                named.len(),
                named
                    .iter()
                    .find(|(n, _)| !stored.contains_key(n.as_str()))
                    .map_or("", |(n, _)| n.as_str())
            )));
        }
        for ((name, w), saved) in named.iter().zip(&order) {
            let s = stored.get(saved.as_str()).ok_or_else(|| {
                Error::Format(format!(
                    "the file lists weight '{saved}' but holds no such tensor"
                ))
            })?;
            if s.shape() != w.value.shape().as_slice() {
                return Err(Error::Format(format!(
                    "loading by position (the names differ): weight '{name}' of the model has shape {:?} \
                     but the file's weight '{saved}' in the same place has shape {:?}",
                    w.value.shape(),
                    s.shape()
                )));
            }
            plan.push((w, s));
            report.loaded.push(name.clone());
        }
        report.by_position = true;
    }
    for (w, s) in plan {
        w.value.assign(s.cast(w.value.dtype()))?;
    }
    Ok(report)
}

fn saved_order(file: &TensorFile) -> Result<Vec<String>> {
    let text = file.metadata.get(WEIGHT_NAMES).ok_or_else(|| {
        Error::Format(
            "the weight names differ from the model's and the file does not record its weights' order"
                .into(),
        )
    })?;
    serde_json::from_str::<Vec<String>>(text).map_err(|e| {
        Error::Format(format!(
            "the file's weight order is not a JSON list of names: {e}"
        ))
    })
}

fn preview<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    let more = names.len().saturating_sub(8);
    let mut text = names
        .into_iter()
        .take(8)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    if text.is_empty() {
        "no weights".into()
    } else {
        text
    }
}

/// Restores the optimizer's state saved by [`state_tensors`] into the compiled model's
/// optimizer (which must be the same algorithm). Returns false when the file holds none.
pub fn load_optimizer_state(model: &Model, file: &TensorFile) -> Result<bool> {
    if !file.metadata.contains_key(OPTIMIZER_STATE) {
        return Ok(false);
    }
    let compiled = model.compiled().ok_or_else(|| {
        Error::Format("the file holds optimizer state but the model is not compiled".into())
    })?;
    let mut optimizer = compiled.optimizer.lock().expect("optimizer lock");
    load_optimizer_state_into(model.graph(), &mut optimizer, file)
}

/// Restores saved optimizer state into `optimizer` for the weights of `graph` (matched by
/// name). Everything is checked before the optimizer changes.
pub fn load_optimizer_state_into(
    graph: &Graph,
    optimizer: &mut Optimizer,
    file: &TensorFile,
) -> Result<bool> {
    let Some(text) = file.metadata.get(OPTIMIZER_STATE) else {
        return Ok(false);
    };
    let state: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Format(format!("the optimizer state is not valid JSON: {e}")))?;
    let algorithm = state["algorithm"].as_str().unwrap_or("");
    let iterations = state["iterations"]
        .as_u64()
        .ok_or_else(|| Error::Format("the optimizer state has no integer 'iterations'".into()))?;
    let momentum_product = state["momentum_product"].as_f64().unwrap_or(1.0);
    if algorithm != optimizer.algorithm().name() {
        return Err(Error::Format(format!(
            "the file holds the state of a {algorithm} optimizer but the model is compiled with {}",
            optimizer.algorithm().name()
        )));
    }
    let slot_names = optimizer.slot_names();
    let mut plan = Vec::new();
    for (name, w) in named_weights(graph) {
        let slots: Vec<Option<&Storage>> = slot_names
            .iter()
            .map(|slot| file.tensor(&format!("{OPTIMIZER_PREFIX}{name}/{slot}")))
            .collect();
        if slots.iter().all(Option::is_none) {
            continue; // a weight the optimizer had not stepped yet (frozen, or no gradient)
        }
        let slots: Option<Vec<Storage>> = slots.into_iter().map(|s| s.cloned()).collect();
        let slots = slots.ok_or_else(|| {
            Error::Format(format!(
                "the optimizer state of weight '{name}' is incomplete"
            ))
        })?;
        plan.push((w, slots));
    }
    // Check every shape before changing anything.
    for (w, slots) in &plan {
        if let Some(s) = slots
            .iter()
            .find(|s| s.shape() != w.value.shape().as_slice())
        {
            return Err(Error::Format(format!(
                "an optimizer slot has shape {:?} but its weight has shape {:?}",
                s.shape(),
                w.value.shape()
            )));
        }
    }
    for (w, slots) in plan {
        optimizer.set_slots(&w.value, slots)?;
    }
    optimizer.set_iterations(iterations);
    optimizer.set_momentum_product(momentum_product);
    Ok(true)
}
