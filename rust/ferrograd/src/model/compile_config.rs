//! The compile settings as Keras 3's `compile_config` (`Model.get_compile_config()`): the
//! serialized optimizer, the loss (one for all outputs, a list, or a dict by output name), the
//! loss weights and the metrics, written and read through each family's [`KerasObject`].
//!
//! Keras resolves `"accuracy"` / `"acc"` (and `"crossentropy"` / `"ce"`) from the shapes of the
//! first batch; a loaded model has no batch yet, so the targets' shape is taken from the loss:
//! integer class ids (one axis fewer than the output) for `SparseCategoricalCrossentropy`,
//! the output's shape for every other loss, which is what those losses accept.

use serde_json::{json, Map, Value};

use super::{Compiled, CompiledLoss, Graph, Node};
use crate::config::{deserialize, serialize, short};
use crate::error::{Error, Result};
use crate::losses::{Loss, ReducedLoss};
use crate::metrics::Metric;
use crate::optim::Optimizer;

fn bad(message: impl Into<String>) -> Error {
    Error::Format(format!("compile_config: {}", message.into()))
}

impl From<ReducedLoss> for CompiledLoss {
    fn from(loss: ReducedLoss) -> CompiledLoss {
        CompiledLoss::Builtin {
            loss: loss.loss,
            reduction: loss.reduction,
        }
    }
}

/// The names of a graph's outputs: the layers (or inputs) that produce them.
fn output_names(graph: &Graph) -> Vec<String> {
    graph
        .outputs()
        .iter()
        .map(|out| match &graph.nodes()[out.node] {
            Node::Input { name, .. } => name.clone(),
            Node::Layer { layer, .. } => layer.name().to_string(),
        })
        .collect()
}

/// One entry per output from a compile argument, as `compile` spreads it: null → none each;
/// a dict keyed by output name; a list with one entry per output (for metrics only when there
/// are several outputs: a single output's list is its list of metrics); anything else is
/// shared by every output.
fn per_output<'v>(
    value: Option<&'v Value>,
    what: &str,
    names: &[String],
) -> Result<Vec<Option<&'v Value>>> {
    let n = names.len();
    match value {
        None | Some(Value::Null) => Ok(vec![None; n]),
        Some(Value::Object(map)) if !map.contains_key("class_name") => {
            let unknown: Vec<&String> = map.keys().filter(|k| !names.contains(k)).collect();
            if !unknown.is_empty() {
                return Err(bad(format!(
                    "{what} has keys {unknown:?} that are not output names; the outputs are {names:?}"
                )));
            }
            Ok(names.iter().map(|name| map.get(name)).collect())
        }
        Some(Value::Array(items)) if n > 1 || (what != "metrics" && items.len() == 1) => {
            if items.len() != n {
                return Err(bad(format!(
                    "{what} has {} entries for {n} outputs ({names:?})",
                    items.len()
                )));
            }
            Ok(items.iter().map(Some).collect())
        }
        Some(v) => Ok(vec![Some(v); n]),
    }
}

/// The function name of a serialized built-in function (`{"class_name": "function",
/// "config": "mean_squared_error"}`), which `compile` accepts as a loss or metric.
fn function_name(value: &Value) -> Option<&str> {
    (value.get("class_name")?.as_str()? == "function")
        .then(|| value.get("config")?.as_str())
        .flatten()
}

fn loss_from_value(value: &Value) -> Result<ReducedLoss> {
    let name = match value {
        Value::String(name) => Some(name.as_str()),
        other => function_name(other),
    };
    match name {
        Some(name) => Ok(Loss::from_name(name)?.into()),
        None => deserialize::<ReducedLoss>(value),
    }
}

fn metric_from_value(value: &Value, y_true: &[usize], y_pred: &[usize]) -> Result<Metric> {
    let name = match value {
        Value::String(name) => Some(name.as_str()),
        other => function_name(other),
    };
    match name {
        Some(name) => Metric::resolve(name, y_true, y_pred),
        None => deserialize::<Metric>(value),
    }
}

impl Compiled {
    /// Keras's `compile_config` of these settings. Losses written in a front end's language
    /// have no config here and are an error.
    pub fn to_config(&self) -> Result<Value> {
        let optimizer = self
            .optimizer
            .lock()
            .map_err(|_| bad("the optimizer's lock is poisoned"))?;
        let losses = self
            .losses
            .iter()
            .enumerate()
            .map(|(i, loss)| match loss {
                None => Ok(Value::Null),
                Some(CompiledLoss::Builtin { loss, reduction }) => Ok(serialize(&ReducedLoss {
                    loss: *loss,
                    reduction: *reduction,
                })),
                Some(CompiledLoss::Custom { .. }) => Err(bad(format!(
                    "the loss of output '{}' is a function from outside the engine, which has \
                     no config",
                    self.output_names[i]
                ))),
            })
            .collect::<Result<Vec<Value>>>()?;
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|ms| Value::Array(ms.iter().map(serialize).collect()))
            .collect();
        let single = losses.len() == 1;
        let mut config = Map::new();
        for (key, value) in [
            ("optimizer", serialize(&*optimizer)),
            (
                "loss",
                if single {
                    losses[0].clone()
                } else {
                    Value::Array(losses)
                },
            ),
            (
                "loss_weights",
                if self.loss_weights.iter().all(|&w| w == 1.0) {
                    Value::Null
                } else {
                    json!(self.loss_weights)
                },
            ),
            (
                "metrics",
                if single {
                    metrics[0].clone()
                } else {
                    Value::Array(metrics)
                },
            ),
            ("weighted_metrics", Value::Null),
            ("run_eagerly", json!(false)),
            ("steps_per_execution", json!(1)),
            ("jit_compile", json!(false)),
        ] {
            config.insert(key.to_string(), value);
        }
        Ok(Value::Object(config))
    }

    /// The settings a `compile_config` describes, for a model of `graph`: a fresh optimizer
    /// (its training state is restored separately), one loss per output, the loss weights and
    /// the metrics of each output. Anything the engine cannot run (a custom class, a Python
    /// function) is an error naming it.
    pub fn from_config(config: &Value, graph: &Graph) -> Result<Compiled> {
        if !config.is_object() {
            return Err(bad(format!(
                "expected a JSON object, got {}",
                short(config)
            )));
        }
        let optimizer_value = config
            .get("optimizer")
            .filter(|v| !v.is_null())
            .ok_or_else(|| bad("no optimizer"))?;
        let optimizer: Optimizer =
            deserialize(optimizer_value).map_err(|e| bad(format!("optimizer: {e}")))?;
        let names = output_names(graph);
        let losses = per_output(config.get("loss"), "loss", &names)?
            .into_iter()
            .zip(&names)
            .map(|(entry, name)| {
                entry
                    .map(|v| loss_from_value(v).map_err(|e| bad(format!("loss of '{name}': {e}"))))
                    .transpose()
            })
            .collect::<Result<Vec<Option<ReducedLoss>>>>()?;
        let loss_weights = per_output(config.get("loss_weights"), "loss_weights", &names)?
            .into_iter()
            .map(|w| match w {
                None => Ok(1.0),
                Some(v) => v.as_f64().ok_or_else(|| {
                    bad(format!("a loss weight must be a number, got {}", short(v)))
                }),
            })
            .collect::<Result<Vec<f64>>>()?;
        let shapes = graph.output_shapes();
        let mut metrics = Vec::with_capacity(names.len());
        for (i, entry) in per_output(config.get("metrics"), "metrics", &names)?
            .into_iter()
            .enumerate()
        {
            let y_pred: Vec<usize> = shapes[i].iter().map(|d| d.unwrap_or(1)).collect();
            let y_true = match losses[i].map(|l| l.loss) {
                Some(Loss::SparseCategoricalCrossentropy { .. }) => {
                    y_pred[..y_pred.len().saturating_sub(1)].to_vec()
                }
                _ => y_pred.clone(),
            };
            let items: Vec<&Value> = match entry {
                None => Vec::new(),
                Some(Value::Array(items)) => items.iter().collect(),
                Some(item) => vec![item],
            };
            metrics.push(
                items
                    .into_iter()
                    .map(|v| {
                        metric_from_value(v, &y_true, &y_pred)
                            .map_err(|e| bad(format!("metric of '{}': {e}", names[i])))
                    })
                    .collect::<Result<Vec<Metric>>>()?,
            );
        }
        Ok(Compiled {
            optimizer: std::sync::Arc::new(std::sync::Mutex::new(optimizer)),
            losses: losses
                .into_iter()
                .map(|l| l.map(CompiledLoss::from))
                .collect(),
            loss_weights,
            metrics,
            output_names: names,
        })
    }
}
