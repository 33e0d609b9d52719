//! Merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` (elementwise
//! over inputs of one shape, with numpy broadcasting as Keras allows) and `Concatenate`.

use super::*;

/// How a [`Merge`] layer combines its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MergeOp {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
    Concatenate { axis: isize },
}

impl MergeOp {
    pub fn class_name(&self) -> &'static str {
        match self {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
            MergeOp::Concatenate { .. } => "Concatenate",
        }
    }
}

pub(crate) const CLASSES: &[LayerClass] = &[
    LayerClass {
        name: "Add",
        make: merge_layer,
    },
    LayerClass {
        name: "Subtract",
        make: merge_layer,
    },
    LayerClass {
        name: "Multiply",
        make: merge_layer,
    },
    LayerClass {
        name: "Average",
        make: merge_layer,
    },
    LayerClass {
        name: "Maximum",
        make: merge_layer,
    },
    LayerClass {
        name: "Minimum",
        make: merge_layer,
    },
    LayerClass {
        name: "Concatenate",
        make: merge_layer,
    },
];

fn merge_layer(c: &Config<'_>, _: &[std::sync::Arc<dyn Layer>]) -> Result<Made> {
    Ok(Made::plain(Merge::from_config(c)?))
}

/// A merge layer (Keras's classes of the same names).
pub struct Merge {
    core: LayerCore,
    op: MergeOp,
}

impl Merge {
    pub fn new(name: impl Into<String>, op: MergeOp) -> Merge {
        let core = LayerCore::new(name);
        core.set_built();
        Merge { core, op }
    }

    /// A merge layer of Keras's class `c.class()`; `Concatenate` takes `axis` (-1).
    pub fn from_config(c: &Config<'_>) -> Result<Merge> {
        let op = match c.class() {
            "Add" => MergeOp::Add,
            "Subtract" => MergeOp::Subtract,
            "Multiply" => MergeOp::Multiply,
            "Average" => MergeOp::Average,
            "Maximum" => MergeOp::Maximum,
            "Minimum" => MergeOp::Minimum,
            "Concatenate" => MergeOp::Concatenate {
                axis: c.int_or("axis", -1)?,
            },
            other => {
                return Err(Error::Format(format!(
                    "'{other}' is not a merge layer class"
                )))
            }
        };
        Ok(Merge::new(c.required_name()?, op))
    }

    pub fn op(&self) -> MergeOp {
        self.op
    }

    fn check_count(&self, count: usize) -> Result<()> {
        let ok = match self.op {
            MergeOp::Subtract => count == 2,
            _ => count >= 2,
        };
        if ok {
            Ok(())
        } else {
            let wanted = if self.op == MergeOp::Subtract {
                "exactly 2 inputs"
            } else {
                "a list of at least 2 inputs"
            };
            Err(Error::Argument {
                op: "layer",
                message: format!(
                    "a `{}` layer ('{}') should be called on {wanted}, got {count}",
                    self.op.class_name(),
                    self.name()
                ),
            })
        }
    }

    fn shape_error(&self, shapes: &[Shape]) -> Error {
        let listed: Vec<String> = shapes.iter().map(|s| format_shape(s)).collect();
        Error::Shape {
            op: "merge",
            message: format!(
                "a `{}` layer ('{}') got inputs with incompatible shapes: {}",
                self.op.class_name(),
                self.name(),
                listed.join(", ")
            ),
        }
    }
}

/// Broadcasts two dims where None is unknown (Keras's merge shape rule).
fn broadcast_dim(a: Option<usize>, b: Option<usize>) -> std::result::Result<Option<usize>, ()> {
    match (a, b) {
        (Some(1), other) | (other, Some(1)) => Ok(other),
        (None, other) | (other, None) => Ok(other),
        (Some(x), Some(y)) if x == y => Ok(Some(x)),
        _ => Err(()),
    }
}

/// Keras's `Merge.call` for inputs of different ranks: axes of size 1 are inserted after the
/// batch axis until every input has the largest rank, so `(b, n)` meets `(b, m, n)` as
/// `(b, 1, n)` (numpy's rule would align the batch axis with `m`).
fn expand_to_common_rank(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let rank = inputs.iter().map(Tensor::ndim).max().unwrap_or(0);
    inputs
        .iter()
        .map(|t| {
            if t.ndim() == rank {
                return Ok(t.clone());
            }
            let shape = t.shape();
            let mut target = vec![shape[0] as isize];
            target.extend(std::iter::repeat_n(1, rank - shape.len()));
            target.extend(shape[1..].iter().map(|&d| d as isize));
            t.reshape(&target)
        })
        .collect()
}

impl Layer for Merge {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn class_name(&self) -> &str {
        self.op.class_name()
    }

    fn config(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        match self.op {
            MergeOp::Concatenate { axis } => config_of([("axis", serde_json::json!(axis))]),
            _ => config_of([]),
        }
    }

    fn output_shapes(&self, input_shapes: &[Shape]) -> Result<Vec<Shape>> {
        self.check_count(input_shapes.len())?;
        if let MergeOp::Concatenate { axis } = self.op {
            let rank = input_shapes[0].len();
            if input_shapes.iter().any(|s| s.len() != rank) {
                return Err(self.shape_error(input_shapes));
            }
            let axis = crate::ops::normalize_axis("Concatenate", axis, rank)?;
            let mut out = input_shapes[0].clone();
            out[axis] = Some(0);
            for shape in input_shapes {
                for (i, &d) in shape.iter().enumerate() {
                    if i == axis {
                        out[i] = match (out[i], d) {
                            (Some(a), Some(b)) => Some(a + b),
                            _ => None,
                        };
                    } else {
                        out[i] = match (out[i], d) {
                            (Some(a), Some(b)) if a != b => {
                                return Err(self.shape_error(input_shapes))
                            }
                            (Some(a), _) | (None, Some(a)) => Some(a),
                            (None, None) => None,
                        };
                    }
                }
            }
            return Ok(vec![out]);
        }
        // Keras's `Merge.compute_output_shape`: one batch size; the sample shapes (without
        // the batch axis) broadcast against each other aligned on their last axes.
        if input_shapes.iter().any(|s| s.is_empty()) {
            return Err(self.shape_error(input_shapes));
        }
        let mut batch = None;
        for shape in input_shapes {
            batch = match (batch, shape[0]) {
                (Some(a), Some(b)) if a != b => return Err(self.shape_error(input_shapes)),
                (Some(a), _) | (None, Some(a)) => Some(a),
                (None, None) => None,
            };
        }
        let rank = input_shapes.iter().map(Vec::len).max().unwrap_or(1);
        let mut out: Shape = vec![Some(1); rank];
        out[0] = batch;
        for shape in input_shapes {
            let offset = rank - shape.len();
            for (i, &d) in shape.iter().enumerate().skip(1) {
                out[offset + i] = broadcast_dim(out[offset + i], d)
                    .map_err(|_| self.shape_error(input_shapes))?;
            }
        }
        Ok(vec![out])
    }

    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        self.check_count(inputs.len())?;
        let shapes: Vec<Shape> = inputs.iter().map(|t| known(&t.shape())).collect();
        self.output_shapes(&shapes)?;
        let expanded;
        let inputs = if matches!(self.op, MergeOp::Concatenate { .. }) {
            inputs
        } else {
            expanded = expand_to_common_rank(inputs)?;
            expanded.as_slice()
        };
        let rest = &inputs[1..];
        let out = match self.op {
            MergeOp::Concatenate { axis } => Tensor::concatenate(inputs, axis)?,
            MergeOp::Subtract => inputs[0].sub(&inputs[1])?,
            MergeOp::Add | MergeOp::Average => {
                let mut sum = inputs[0].clone();
                for t in rest {
                    sum = sum.add(t)?;
                }
                if self.op == MergeOp::Average {
                    sum.scale(1.0 / inputs.len() as f64)?
                } else {
                    sum
                }
            }
            MergeOp::Multiply => {
                let mut product = inputs[0].clone();
                for t in rest {
                    product = product.mul(t)?;
                }
                product
            }
            MergeOp::Maximum | MergeOp::Minimum => {
                let mut acc = inputs[0].clone();
                for t in rest {
                    acc = if self.op == MergeOp::Maximum {
                        acc.maximum(t)?
                    } else {
                        acc.minimum(t)?
                    };
                }
                acc
            }
        };
        Ok(vec![out])
    }

    /// Keras's merge masks: elementwise merges keep a step where every masked input keeps
    /// it (`Merge.compute_mask`: `all` over the masks given); `Concatenate` on the last axis
    /// keeps a step where any input does (an input without a mask keeps all), and on the time
    /// axis joins the masks (ones for an input without one).
    fn compute_mask(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
    ) -> Result<Vec<Option<Tensor>>> {
        let Some(first) = masks.iter().flatten().next() else {
            return Ok(Vec::new());
        };
        let MergeOp::Concatenate { axis } = self.op else {
            let mut all = first.clone();
            for mask in masks.iter().flatten().skip(1) {
                all = all.mul(mask)?;
            }
            return Ok(vec![Some(all)]);
        };
        let rank = inputs[0].shape().len();
        let axis = crate::ops::normalize_axis("Concatenate", axis, rank)?;
        if axis + 1 == rank {
            if masks.len() < inputs.len() || masks.iter().any(Option::is_none) {
                return Ok(vec![Some(Tensor::full(&first.shape(), 1.0, first.dtype()))]);
            }
            let mut any = first.clone();
            for mask in masks.iter().flatten().skip(1) {
                any = any.maximum(mask)?;
            }
            return Ok(vec![Some(any)]);
        }
        if axis == 1 && rank >= 3 {
            let joined = inputs
                .iter()
                .enumerate()
                .map(|(i, x)| match masks.get(i).cloned().flatten() {
                    Some(mask) => mask,
                    None => Tensor::full(&x.shape()[..2], 1.0, first.dtype()),
                })
                .collect::<Vec<_>>();
            return Ok(vec![Some(Tensor::concatenate(&joined, 1)?)]);
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn merges_compute_and_check_shapes() {
        let a = t32(&[1, 2], &[1.0, 2.0]);
        let b = t32(&[1, 2], &[3.0, 5.0]);
        let run = |op| {
            values(
                &Merge::new("m", op)
                    .call(&[a.clone(), b.clone()], false)
                    .unwrap()[0],
            )
        };
        assert_eq!(run(MergeOp::Add), vec![4.0, 7.0]);
        assert_eq!(run(MergeOp::Subtract), vec![-2.0, -3.0]);
        assert_eq!(run(MergeOp::Multiply), vec![3.0, 10.0]);
        assert_eq!(run(MergeOp::Average), vec![2.0, 3.5]);
        assert_eq!(run(MergeOp::Maximum), vec![3.0, 5.0]);
        assert_eq!(
            run(MergeOp::Concatenate { axis: -1 }),
            vec![1.0, 2.0, 3.0, 5.0]
        );
        let sub = Merge::new("s", MergeOp::Subtract);
        assert!(sub.call(&[a.clone(), b.clone(), a.clone()], false).is_err());
        let add = Merge::new("a", MergeOp::Add);
        let err = add
            .output_shapes(&[vec![None, Some(2)], vec![None, Some(3)]])
            .unwrap_err();
        assert!(err.to_string().contains("(None, 2), (None, 3)"), "{err}");
        // Keras: a lower-rank input gets axes after the batch axis, (2, 3) as (2, 1, 3).
        let wide = t32(&[2, 2, 3], &[0.0; 12]);
        let narrow = t32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let sum = add.call(&[wide, narrow], false).unwrap().remove(0);
        assert_eq!(sum.shape(), vec![2, 2, 3]);
        assert_eq!(
            values(&sum),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(
            add.output_shapes(&[vec![None, Some(2), Some(3)], vec![None, Some(3)]])
                .unwrap(),
            vec![vec![None, Some(2), Some(3)]]
        );
        assert!(add
            .output_shapes(&[vec![Some(2), Some(3)], vec![Some(4), Some(3)]])
            .is_err());
        let cat = Merge::new("c", MergeOp::Concatenate { axis: 1 });
        assert_eq!(
            cat.output_shapes(&[vec![None, Some(2)], vec![None, Some(3)]])
                .unwrap(),
            vec![vec![None, Some(5)]]
        );
    }
}
