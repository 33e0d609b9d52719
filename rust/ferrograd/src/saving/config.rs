//! Architectures as data: Keras 3's JSON config of a `Sequential` or functional model, read
//! into an engine [`Graph`] of built layers, and written from one.
//!
//! This file assembles graphs; each layer reads and writes its own config
//! ([`crate::nn::registry`]). Reading never runs code: a layer's `class_name` selects one of the
//! engine's layers from a fixed table and its `config` gives the arguments; anything else (a
//! custom Python layer, an activation given as a Python function) is an error that names it.
//! Keys the engine does not need to run a model (initializers, constraints, ...) are ignored;
//! keys that change what a layer computes must be understood or the load fails, so a file never
//! loads into a model that computes something else.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::config::{class_and_config, short};
use crate::error::{Error, Result};
use crate::model::{Graph, Node, ValueRef};
use crate::nn::{layer_config, layer_from_config, Made, Shape};
use crate::tensor::DType;

fn bad(message: impl Into<String>) -> Error {
    Error::Format(message.into())
}

fn parse_dtype(v: Option<&Value>) -> Result<Option<DType>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let name = v
                .as_str()
                .or_else(|| {
                    v.get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                })
                .unwrap_or("");
            match name {
                "float32" => Ok(Some(DType::F32)),
                "float64" => Ok(Some(DType::F64)),
                other => Err(bad(format!(
                    "dtype '{other}' is not supported; ferrograd computes in float32 or float64"
                ))),
            }
        }
    }
}

fn batch_shape(config: &Value) -> Result<Shape> {
    let v = config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .ok_or_else(|| {
            bad(format!(
                "an InputLayer config has no batch_shape: {}",
                short(config)
            ))
        })?;
    v.as_array()
        .ok_or_else(|| bad(format!("batch_shape must be a list, got {v}")))?
        .iter()
        .map(|d| match d {
            Value::Null => Ok(None),
            d => d.as_u64().map(|d| Some(d as usize)).ok_or_else(|| {
                bad(format!(
                    "batch_shape entries must be sizes or null, got {d}"
                ))
            }),
        })
        .collect()
}

/// A graph from Keras 3's model config (`{"class_name": "Sequential" | "Functional", "config":
/// {...}}`), every layer built, ready for weights.
pub fn graph_from_config(model: &Value) -> Result<Graph> {
    graph_from_config_checked(model, None)
}

/// [`graph_from_config`] for a file's config: every weight a layer would create is checked
/// against `expected` (the file's tensor shapes by name) before it is allocated.
pub fn graph_from_config_checked(
    model: &Value,
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    let (class, config) = class_and_config(model)?;
    let layers = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("the {class} model config has no 'layers' list")))?;
    match class {
        "Sequential" => sequential(config, layers, expected),
        "Functional" | "Model" => functional(config, layers, expected),
        other => Err(bad(format!(
            "model class '{other}' cannot be loaded natively: only Sequential and functional models \
             (a subclassed model's call is Python code)"
        ))),
    }
}

fn sequential(
    config: &Value,
    layers: &[Value],
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    let mut entries = layers.iter();
    let first = layers
        .first()
        .ok_or_else(|| bad("the Sequential model has no layers"))?;
    let (first_class, first_config) = class_and_config(first)?;
    let (shape, dtype, input_name) = if first_class == "InputLayer" {
        entries.next();
        let name = first_config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("input_layer");
        (
            batch_shape(first_config)?,
            parse_dtype(first_config.get("dtype"))?,
            name.to_string(),
        )
    } else if let Some(shape) = config.get("build_input_shape").filter(|v| !v.is_null()) {
        let wrapped = json!({ "batch_shape": shape });
        (
            batch_shape(&wrapped)?,
            parse_dtype(first_config.get("dtype"))?,
            "input_layer".to_string(),
        )
    } else if let Some(shape) = first_config
        .get("batch_shape")
        .or_else(|| first_config.get("batch_input_shape"))
    {
        let wrapped = json!({ "batch_shape": shape });
        (
            batch_shape(&wrapped)?,
            parse_dtype(first_config.get("dtype"))?,
            "input_layer".to_string(),
        )
    } else {
        return Err(bad("the Sequential model has no input shape (it was never built), so it has no weights to load"));
    };
    let dtype = dtype.unwrap_or(DType::F32);
    let mut graph = Graph::new(dtype);
    let mut value = graph.add_input(input_name, shape);
    for entry in entries {
        let (class, c) = class_and_config(entry)?;
        let made = layer_from_config(class, c)?;
        let name = made.layer.name().to_string();
        made.build_checked(&[graph.shape(value)?.clone()], dtype, expected, &name)?;
        let outputs = graph.add_layer(made.layer.clone(), vec![value])?;
        value = *outputs
            .first()
            .ok_or_else(|| bad(format!("layer of class {class} has no output")))?;
    }
    graph.set_outputs(vec![value])?;
    Ok(graph)
}

/// `[name, node_index, tensor_index]` (Keras's `keras_history` and `input_layers` entries).
fn history(v: &Value) -> Option<(String, usize, usize)> {
    let items = v.as_array()?;
    if items.len() != 3 {
        return None;
    }
    Some((
        items[0].as_str()?.to_string(),
        items[1].as_u64()? as usize,
        items[2].as_u64()? as usize,
    ))
}

/// `input_layers`/`output_layers`: a list of histories, or a single one (Keras 3 writes the
/// single one bare).
fn endpoints(config: &Value, key: &str) -> Result<Vec<(String, usize, usize)>> {
    let v = config
        .get(key)
        .ok_or_else(|| bad(format!("the functional model config has no '{key}'")))?;
    if let Some(one) = history(v) {
        return Ok(vec![one]);
    }
    v.as_array()
        .and_then(|items| items.iter().map(history).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            bad(format!(
                "'{key}' must list [layer_name, node_index, tensor_index] entries, got {}",
                short(v)
            ))
        })
}

/// The keras tensors a node's `args` refer to, in order (a tensor, or a list of them).
fn node_inputs(node: &Value) -> Result<Vec<(String, usize, usize)>> {
    fn collect(v: &Value, out: &mut Vec<(String, usize, usize)>) -> Result<()> {
        match v {
            Value::Array(items) => {
                if let Some(h) = history(v).filter(|_| items.first().is_some_and(Value::is_string))
                {
                    out.push(h); // Keras 2's [name, node, tensor, kwargs] style
                    return Ok(());
                }
                for item in items {
                    collect(item, out)?;
                }
                Ok(())
            }
            Value::Object(m)
                if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
            {
                let h = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(history)
                    .ok_or_else(|| {
                        bad(format!(
                            "a keras tensor without a valid keras_history: {}",
                            short(v)
                        ))
                    })?;
                out.push(h);
                Ok(())
            }
            other => Err(bad(format!(
                "a node argument that is not a tensor cannot be loaded natively: {}",
                short(other)
            ))),
        }
    }
    let mut out = Vec::new();
    match node.get("args") {
        Some(args) => collect(args, &mut out)?,
        None => collect(node, &mut out)?,
    }
    if let Some(kwargs) = node.get("kwargs").and_then(Value::as_object) {
        for (key, v) in kwargs {
            if v.to_string().contains("__keras_tensor__") {
                return Err(bad(format!(
                    "a layer call with the tensor keyword argument '{key}' cannot be loaded natively yet"
                )));
            }
        }
    }
    Ok(out)
}

fn functional(
    config: &Value,
    layers: &[Value],
    expected: Option<&HashMap<String, Vec<usize>>>,
) -> Result<Graph> {
    // Inputs first: their dtype is the graph's.
    let mut dtype = None;
    for entry in layers {
        let (class, c) = class_and_config(entry)?;
        if class == "InputLayer" {
            if let Some(d) = parse_dtype(c.get("dtype"))? {
                dtype = Some(d);
                break;
            }
        }
    }
    let dtype = dtype.unwrap_or(DType::F32);
    let mut graph = Graph::new(dtype);
    // Values by (layer name, node index, tensor index).
    let mut values: HashMap<(String, usize, usize), ValueRef> = HashMap::new();
    // Inputs in `input_layers` order: that is the order the model takes its inputs in.
    for (input, _, _) in endpoints(config, "input_layers")? {
        let entry = layers
            .iter()
            .find(|e| {
                let (class, c) = match class_and_config(e) {
                    Ok(x) => x,
                    Err(_) => return false,
                };
                let name = e
                    .get("name")
                    .or_else(|| c.get("name"))
                    .and_then(Value::as_str);
                class == "InputLayer" && name == Some(input.as_str())
            })
            .ok_or_else(|| {
                bad(format!(
                    "input layer '{input}' is not an InputLayer of the model"
                ))
            })?;
        let (_, c) = class_and_config(entry)?;
        let r = graph.add_input(input.clone(), batch_shape(c)?);
        values.insert((input, 0, 0), r);
    }

    // Layer nodes, in as many passes as the order of `layers` needs (Keras allows a layer to
    // appear before the layers its later nodes depend on).
    struct Pending<'a> {
        made: Made,
        name: String,
        nodes: Vec<&'a Value>,
        next: usize,
    }
    let mut pending: Vec<Pending<'_>> = Vec::new();
    for entry in layers {
        let (class, c) = class_and_config(entry)?;
        if class == "InputLayer" {
            continue;
        }
        let made = layer_from_config(class, c)?;
        let nodes = entry
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map(|n| n.iter().collect())
            .unwrap_or_default();
        pending.push(Pending {
            name: made.layer.name().to_string(),
            made,
            nodes,
            next: 0,
        });
    }
    loop {
        let mut progressed = false;
        for p in pending.iter_mut() {
            while p.next < p.nodes.len() {
                let inputs = node_inputs(p.nodes[p.next])?;
                let refs: Option<Vec<ValueRef>> =
                    inputs.iter().map(|k| values.get(k).copied()).collect();
                let Some(refs) = refs else { break };
                let shapes = refs
                    .iter()
                    .map(|r| graph.shape(*r).cloned())
                    .collect::<Result<Vec<_>>>()?;
                if p.next == 0 {
                    p.made.build_checked(&shapes, dtype, expected, &p.name)?;
                }
                let outs = graph.add_layer(p.made.layer.clone(), refs)?;
                for (i, r) in outs.into_iter().enumerate() {
                    values.insert((p.name.clone(), p.next, i), r);
                }
                p.next += 1;
                progressed = true;
            }
        }
        if pending.iter().all(|p| p.next == p.nodes.len()) {
            break;
        }
        if !progressed {
            let stuck = pending
                .iter()
                .find(|p| p.next < p.nodes.len())
                .expect("one is pending");
            return Err(bad(format!(
                "layer '{}' is called on tensors no layer of the model produces (its node {} is unreachable)",
                stuck.name, stuck.next
            )));
        }
    }
    let outputs = endpoints(config, "output_layers")?
        .into_iter()
        .map(|k| {
            values.get(&k).copied().ok_or_else(|| {
                bad(format!(
                    "output [{}, {}, {}] is not produced by any layer",
                    k.0, k.1, k.2
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    graph.set_outputs(outputs)?;
    Ok(graph)
}

// ----- writing configs of native models

fn shape_value(shape: &Shape) -> Value {
    Value::Array(
        shape
            .iter()
            .map(|d| d.map_or(Value::Null, |d| json!(d)))
            .collect(),
    )
}

/// Keras 3's functional config of an engine graph (every model is written as a functional one:
/// a Sequential is the chain case).
pub fn model_config(graph: &Graph) -> Result<Value> {
    let dtype = crate::saving::file::dtype_name(graph.dtype());
    let mut layers = Vec::new();
    let mut node_counts: HashMap<String, usize> = HashMap::new();
    let mut produced: HashMap<ValueRef, (String, usize, usize)> = HashMap::new();
    let mut entries: HashMap<String, usize> = HashMap::new();
    for (index, node) in graph.nodes().iter().enumerate() {
        match node {
            Node::Input { name, shape } => {
                layers.push(json!({
                    "module": "keras.layers", "class_name": "InputLayer", "name": name,
                    "config": {"batch_shape": shape_value(shape), "dtype": dtype, "sparse": false, "name": name},
                    "registered_name": null, "inbound_nodes": []
                }));
                produced.insert(
                    ValueRef {
                        node: index,
                        output: 0,
                    },
                    (name.clone(), 0, 0),
                );
            }
            Node::Layer { layer, inputs } => {
                let name = layer.name().to_string();
                let args: Vec<Value> = inputs
                    .iter()
                    .map(|r| {
                        let (n, k, t) = produced.get(r).cloned().expect("inputs come first");
                        let shape = graph.shape(*r).map(shape_value).unwrap_or(Value::Null);
                        json!({"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": dtype, "keras_history": [n, k, t]}})
                    })
                    .collect();
                let args = if args.len() == 1 {
                    args
                } else {
                    vec![Value::Array(args)]
                };
                let node_index = *node_counts.entry(name.clone()).or_insert(0);
                *node_counts.get_mut(&name).expect("inserted") += 1;
                let outputs = (0..)
                    .take_while(|&i| {
                        graph
                            .shape(ValueRef {
                                node: index,
                                output: i,
                            })
                            .is_ok()
                    })
                    .count();
                for i in 0..outputs {
                    produced.insert(
                        ValueRef {
                            node: index,
                            output: i,
                        },
                        (name.clone(), node_index, i),
                    );
                }
                let node = json!({"args": args, "kwargs": {}});
                match entries.get(&name) {
                    Some(&at) => layers[at]["inbound_nodes"]
                        .as_array_mut()
                        .expect("a list")
                        .push(node),
                    None => {
                        let mut entry = layer_config(layer.as_ref())?;
                        entry["name"] = Value::String(name.clone());
                        entry["inbound_nodes"] = json!([node]);
                        entries.insert(name.clone(), layers.len());
                        layers.push(entry);
                    }
                }
            }
        }
    }
    let inputs: Vec<Value> = graph
        .inputs()
        .iter()
        .map(|&n| {
            let (name, k, t) = produced[&ValueRef { node: n, output: 0 }].clone();
            json!([name, k, t])
        })
        .collect();
    let outputs: Vec<Value> = graph
        .outputs()
        .iter()
        .map(|r| {
            let (name, k, t) = produced[r].clone();
            json!([name, k, t])
        })
        .collect();
    Ok(json!({
        "module": "keras", "class_name": "Functional", "registered_name": null,
        "config": {"name": "model", "trainable": true, "layers": layers, "input_layers": inputs, "output_layers": outputs}
    }))
}
