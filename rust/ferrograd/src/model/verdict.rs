//! The verdict on a [`GradientReport`]: healthy, vanishing, exploding, dead units, saturated or
//! non-finite, per layer and overall, with the remedies the seed material names for each.
//!
//! The numbers behind it, per layer: the L2 norm of all its trainable weights' gradients
//! together, that norm over the last layer's (in a deep stack the gradient reaching a layer is a
//! product of the Jacobians above it, so factors below 1 shrink it geometrically and factors
//! above 1 grow it), the optimizer's step relative to the weights (`‖update‖ / ‖weights‖`, around
//! 1e-3 is the usual healthy order), the fraction of dead ReLU-family units and of saturated
//! sigmoid/tanh outputs. The [`Thresholds`] are rules of thumb, chosen so that the textbook cases
//! come out as the textbooks say (a 20-layer sigmoid MLP vanishing, ReLU with He initialization
//! healthy; see `examples/gradient_health/` and `docs/gradient-health.md`).
//!
//! ```
//! use ferrograd::model::{LayerHealth, Thresholds, Verdict};
//!
//! // Two layers: the first one's gradient is a millionth of the last one's.
//! let mut layers = vec![LayerHealth::from_norms(1e-6, None), LayerHealth::from_norms(1.0, None)];
//! let first_last = ferrograd::model::judge(&mut layers, &Thresholds::default());
//! assert_eq!(first_last, Some(1e-6));
//! assert_eq!(layers[0].verdict(), Verdict::Vanishing);
//! assert_eq!(layers[1].verdict(), Verdict::Healthy);
//! ```

use std::collections::HashMap;

use super::insight::{GradientReport, LayerInsight};
use crate::error::{Error, Result};

/// What is wrong with a layer's gradients, declared from worst to mildest: the overall verdict
/// is the worst any layer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    NonFinite,
    Exploding,
    Vanishing,
    DeadUnits,
    Saturated,
    Healthy,
}

impl Verdict {
    /// Every verdict, worst first.
    pub const ALL: [Verdict; 6] = [
        Verdict::NonFinite,
        Verdict::Exploding,
        Verdict::Vanishing,
        Verdict::DeadUnits,
        Verdict::Saturated,
        Verdict::Healthy,
    ];

    /// The verdict's name in reports (`"non-finite"`, `"dead units"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NonFinite => "non-finite",
            Verdict::Exploding => "exploding",
            Verdict::Vanishing => "vanishing",
            Verdict::DeadUnits => "dead units",
            Verdict::Saturated => "saturated",
            Verdict::Healthy => "healthy",
        }
    }

    /// The verdict of a name given by [`Verdict::name`], or an error listing the names.
    pub fn parse(name: &str) -> Result<Verdict> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Verdict::ALL.iter().map(|v| v.name()).collect();
                Error::argument(
                    "gradient verdict",
                    format!("unknown verdict {name:?}; known: {names:?}"),
                )
            })
    }

    /// The remedies for this verdict, from the seed material's list (ReLU family, Xavier/He
    /// initialization, BatchNormalization, residual connections, clipping, LSTM/GRU, L1/L2, a
    /// smaller learning rate). None for `Healthy`.
    pub fn remedies(self) -> &'static [&'static str] {
        match self {
            Verdict::Vanishing => &[
                "use ReLU-family activations (relu, leaky_relu, elu) in hidden layers instead of sigmoid/tanh",
                "initialize for the activation: kernel_initializer='he_normal' for ReLU, 'glorot_uniform' for tanh",
                "add BatchNormalization between layers",
                "add residual connections (layers.Add()([x, block(x)])) around blocks of layers",
                "for recurrent layers: LSTM or GRU instead of SimpleRNN, or shorter sequences",
            ],
            Verdict::Exploding => &[
                "clip gradients: optimizer clipnorm=1.0 / global_clipnorm=1.0 / clipvalue, or fg.clip_by_global_norm in a custom loop",
                "lower the learning rate",
                "use smaller initial weights: glorot_uniform or he_normal instead of large-scale initializers",
                "add BatchNormalization, or L2 weight regularization (kernel_regularizer='l2')",
                "for recurrent layers: LSTM or GRU instead of SimpleRNN",
            ],
            Verdict::DeadUnits => &[
                "lower the learning rate (a large step can push ReLU units where they never fire again)",
                "use LeakyReLU, ELU or PReLU, which keep a gradient for negative inputs",
                "initialize with he_normal, and check that inputs are normalized",
                "add BatchNormalization before the activation",
            ],
            Verdict::Saturated => &[
                "normalize the inputs (zero mean, unit variance)",
                "initialize with glorot_uniform (Xavier) so pre-activations start near 0",
                "add BatchNormalization before the activation, or use ReLU-family activations",
            ],
            Verdict::NonFinite => &[
                "lower the learning rate, and clip gradients (clipnorm / global_clipnorm)",
                "check the inputs and targets for NaN or infinity",
                "compute losses from logits (from_logits=True) instead of log(softmax) or log(sigmoid)",
                "stop on the first bad step: fg.callbacks.GradientMonitor(stop_on_nonfinite=True) or TerminateOnNaN",
            ],
            Verdict::Healthy => &[],
        }
    }

    /// The worst of `verdicts`, `Healthy` for none.
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().min().unwrap_or(Verdict::Healthy)
    }

    /// The remedies for every verdict in `found`, worst verdict first, each remedy once.
    pub fn remedies_for(found: impl IntoIterator<Item = Verdict>) -> Vec<&'static str> {
        let mut found: Vec<Verdict> = found.into_iter().collect();
        found.sort();
        found.dedup();
        let mut out: Vec<&'static str> = Vec::new();
        for remedy in found.into_iter().flat_map(Verdict::remedies) {
            if !out.contains(remedy) {
                out.push(remedy);
            }
        }
        out
    }
}

/// When a layer is judged vanishing, exploding, dead or saturated. `Default` holds the
/// documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A layer's gradient norm below this fraction of the last layer's is vanishing...
    pub vanishing_ratio: f64,
    /// ... or an absolute gradient norm below this.
    pub vanishing_norm: f64,
    /// A layer's gradient norm above this multiple of the last layer's is exploding...
    pub exploding_ratio: f64,
    /// ... or an absolute gradient norm above this...
    pub exploding_norm: f64,
    /// ... or an optimizer step larger than this fraction of the weight (a healthy step is
    /// around 1e-3 of it; a tenth means the weights are being thrown around, the usual start of
    /// a divergence).
    pub exploding_update: f64,
    /// Fraction of dead units (ReLU family) from which a layer is flagged.
    pub dead_fraction: f64,
    /// Fraction of saturated outputs (sigmoid/tanh) from which a layer is flagged.
    pub saturated_fraction: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            vanishing_ratio: 1e-3,
            vanishing_norm: 1e-7,
            exploding_ratio: 1e3,
            exploding_norm: 1e3,
            exploding_update: 0.1,
            dead_fraction: 0.5,
            saturated_fraction: 0.5,
        }
    }
}

impl Thresholds {
    /// `(name, value)` of every field, in declaration order (for front ends' keyword arguments).
    pub fn fields(&self) -> [(&'static str, f64); 7] {
        [
            ("vanishing_ratio", self.vanishing_ratio),
            ("vanishing_norm", self.vanishing_norm),
            ("exploding_ratio", self.exploding_ratio),
            ("exploding_norm", self.exploding_norm),
            ("exploding_update", self.exploding_update),
            ("dead_fraction", self.dead_fraction),
            ("saturated_fraction", self.saturated_fraction),
        ]
    }

    /// Sets the field called `name`, or an error listing the names.
    pub fn set(&mut self, name: &str, value: f64) -> Result<()> {
        let field = match name {
            "vanishing_ratio" => &mut self.vanishing_ratio,
            "vanishing_norm" => &mut self.vanishing_norm,
            "exploding_ratio" => &mut self.exploding_ratio,
            "exploding_norm" => &mut self.exploding_norm,
            "exploding_update" => &mut self.exploding_update,
            "dead_fraction" => &mut self.dead_fraction,
            "saturated_fraction" => &mut self.saturated_fraction,
            _ => {
                let names: Vec<&str> = self.fields().iter().map(|(n, _)| *n).collect();
                return Err(Error::argument(
                    "gradient thresholds",
                    format!("unknown threshold {name:?}; known: {names:?}"),
                ));
            }
        };
        *field = value;
        Ok(())
    }
}

/// Activations that pass no gradient for negative inputs, or little: their units can die.
const RELU_FAMILY: [&str; 10] = [
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "softplus",
    "prelu",
];
/// Activations with flat tails, where the derivative is nearly 0.
const SATURATING: [&str; 4] = ["sigmoid", "tanh", "hard_sigmoid", "softsign"];

/// The numbers of one layer that the verdict is made from, and the verdict.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerHealth {
    /// L2 norm of all the layer's trainable weight gradients together (`None`: none).
    pub gradient_norm: Option<f64>,
    /// `gradient_norm` over the last layer's (set by [`judge`]).
    pub gradient_ratio: Option<f64>,
    /// `‖update‖ / ‖weights‖` over the layer's trainable weights.
    pub update_ratio: Option<f64>,
    /// Largest fraction of dead units over the layer's outputs (ReLU family only).
    pub dead_fraction: Option<f64>,
    /// Largest fraction of saturated values over the layer's outputs (sigmoid/tanh family only).
    pub saturated_fraction: Option<f64>,
    /// What [`judge`] found, in the order it checks (empty: healthy).
    pub verdicts: Vec<Verdict>,
}

impl LayerHealth {
    /// The numbers of `layer`, whose output goes through `activation` (Keras's name).
    pub fn measure(layer: &LayerInsight, activation: Option<&str>) -> LayerHealth {
        let trainable: Vec<_> = layer
            .weights
            .iter()
            .filter_map(|w| match &w.gradient {
                Some(gradient) if w.trainable => Some((w, gradient)),
                _ => None,
            })
            .collect();
        let mut health = LayerHealth::default();
        if !trainable.is_empty() {
            let sum_sq = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>();
            health.gradient_norm = Some(sum_sq(&mut trainable.iter().map(|(_, g)| g.norm)).sqrt());
            let weight_norm = sum_sq(&mut trainable.iter().map(|(w, _)| w.norm)).sqrt();
            let updates: Vec<f64> = trainable
                .iter()
                .filter_map(|(w, _)| w.update_norm)
                .collect();
            if !updates.is_empty() && weight_norm > 0.0 {
                health.update_ratio = Some(sum_sq(&mut updates.into_iter()).sqrt() / weight_norm);
            }
        }
        let largest = |value: &dyn Fn(&super::insight::ActivationStats) -> f64| {
            layer.outputs.iter().map(value).reduce(f64::max)
        };
        if let Some(activation) = activation {
            if RELU_FAMILY.contains(&activation) {
                health.dead_fraction = largest(&|o| o.dead_unit_fraction);
            }
            if SATURATING.contains(&activation) {
                health.saturated_fraction = if matches!(activation, "tanh" | "softsign") {
                    largest(&|o| o.tanh_saturated_fraction)
                } else {
                    largest(&|o| o.sigmoid_saturated_fraction)
                };
            }
        }
        health
    }

    /// A layer known only by its gradient norm and step ratio (for tests and custom reports).
    pub fn from_norms(gradient_norm: f64, update_ratio: Option<f64>) -> LayerHealth {
        LayerHealth {
            gradient_norm: Some(gradient_norm),
            update_ratio,
            ..LayerHealth::default()
        }
    }

    /// The worst of the layer's verdicts.
    pub fn verdict(&self) -> Verdict {
        Verdict::worst(self.verdicts.iter().copied())
    }
}

/// Sets each layer's gradient ratio and verdicts from its numbers; returns the first layer's
/// gradient norm over the last layer's (layers with trainable weights; `None` with fewer than
/// two, or when the last norm is 0 or not finite; the first norm itself when it is not finite).
pub fn judge(layers: &mut [LayerHealth], thresholds: &Thresholds) -> Option<f64> {
    let norms: Vec<f64> = layers.iter().filter_map(|l| l.gradient_norm).collect();
    let last = norms.last().copied();
    for layer in layers.iter_mut() {
        let mut verdicts = Vec::new();
        if let Some(g) = layer.gradient_norm {
            if !g.is_finite() {
                verdicts.push(Verdict::NonFinite);
            } else {
                if let Some(last) = last.filter(|l| l.is_finite() && *l > 0.0) {
                    layer.gradient_ratio = Some(g / last);
                }
                let ratio = layer.gradient_ratio;
                let above = |limit: f64| ratio.is_some_and(|r| r > limit);
                let below = |limit: f64| ratio.is_some_and(|r| r < limit);
                // Too large a gradient, absolutely or next to the last layer's, or too large a
                // step for the weights: exploding, before any check for vanishing.
                let step_too_large = layer
                    .update_ratio
                    .is_some_and(|u| u > thresholds.exploding_update);
                if g > thresholds.exploding_norm
                    || above(thresholds.exploding_ratio)
                    || step_too_large
                {
                    verdicts.push(Verdict::Exploding);
                } else if g < thresholds.vanishing_norm || below(thresholds.vanishing_ratio) {
                    verdicts.push(Verdict::Vanishing);
                }
            }
        }
        if layer
            .dead_fraction
            .is_some_and(|d| d >= thresholds.dead_fraction)
        {
            verdicts.push(Verdict::DeadUnits);
        }
        if layer
            .saturated_fraction
            .is_some_and(|s| s >= thresholds.saturated_fraction)
        {
            verdicts.push(Verdict::Saturated);
        }
        layer.verdicts = verdicts;
    }
    match (norms.first(), last) {
        (Some(&first), Some(last)) if norms.len() >= 2 && last != 0.0 && last.is_finite() => {
            Some(if first.is_finite() {
                first / last
            } else {
                first
            })
        }
        _ => None,
    }
}

/// The verdict on a whole [`GradientReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientHealth {
    /// One per layer of the report, in its order.
    pub layers: Vec<LayerHealth>,
    /// The first layer's gradient norm over the last layer's (see [`judge`]).
    pub first_last_ratio: Option<f64>,
    /// Whether the report found a NaN or an infinity anywhere (inputs, outputs, loss, gradients).
    pub nonfinite: bool,
}

impl GradientHealth {
    /// Judges `report`; `activations` maps layer names to their activation's Keras name.
    pub fn of(
        report: &GradientReport,
        activations: &HashMap<String, String>,
        thresholds: &Thresholds,
    ) -> GradientHealth {
        let mut layers: Vec<LayerHealth> = report
            .layers
            .iter()
            .map(|l| LayerHealth::measure(l, activations.get(&l.name).map(String::as_str)))
            .collect();
        let first_last_ratio = judge(&mut layers, thresholds);
        GradientHealth {
            layers,
            first_last_ratio,
            nonfinite: report.nonfinite.is_some(),
        }
    }

    fn found(&self) -> impl Iterator<Item = Verdict> + '_ {
        let nonfinite = self.nonfinite.then_some(Verdict::NonFinite);
        self.layers
            .iter()
            .flat_map(|l| l.verdicts.iter().copied())
            .chain(nonfinite)
    }

    /// The overall verdict: the worst verdict of any layer (or non-finite).
    pub fn verdict(&self) -> Verdict {
        Verdict::worst(self.found())
    }

    /// The remedies for every problem found, worst problem first.
    pub fn remedies(&self) -> Vec<&'static str> {
        Verdict::remedies_for(self.found())
    }
}

#[cfg(test)]
mod tests {
    use super::super::insight::{ActivationStats, GradientStats, WeightInsight};
    use super::*;

    fn weight(norm: f64, gradient_norm: f64, update_norm: Option<f64>) -> WeightInsight {
        WeightInsight {
            name: "kernel".into(),
            shape: vec![2, 2],
            trainable: true,
            norm,
            gradient: Some(GradientStats {
                norm: gradient_norm,
                max_abs: gradient_norm,
                nonfinite: 0,
            }),
            update_norm,
        }
    }

    fn layer(weights: Vec<WeightInsight>, outputs: Vec<ActivationStats>) -> LayerInsight {
        LayerInsight {
            name: "dense".into(),
            class_name: "Dense".into(),
            outputs,
            weights,
        }
    }

    #[test]
    fn layer_norms_add_up_over_trainable_weights() {
        // Gradient norms 3 and 4 give 5; weight norms 6 and 8 give 10; updates 0.3 and 0.4 give
        // 0.5, so the step is 0.05 of the weights (by hand).
        let mut frozen = weight(100.0, 100.0, Some(100.0));
        frozen.trainable = false;
        let insight = layer(
            vec![
                weight(6.0, 3.0, Some(0.3)),
                weight(8.0, 4.0, Some(0.4)),
                frozen,
            ],
            vec![],
        );
        let health = LayerHealth::measure(&insight, Some("linear"));
        assert_eq!(health.gradient_norm, Some(5.0));
        assert!((health.update_ratio.unwrap() - 0.05).abs() < 1e-15);
        assert_eq!(health.dead_fraction, None);
    }

    #[test]
    fn activations_choose_which_unit_statistics_count() {
        let stats = |dead: f64, sigmoid: f64, tanh: f64| ActivationStats {
            dead_unit_fraction: dead,
            sigmoid_saturated_fraction: sigmoid,
            tanh_saturated_fraction: tanh,
            ..ActivationStats::default()
        };
        let insight = layer(vec![], vec![stats(0.2, 0.3, 0.1), stats(0.6, 0.1, 0.7)]);
        assert_eq!(
            LayerHealth::measure(&insight, Some("relu")).dead_fraction,
            Some(0.6)
        );
        let sigmoid = LayerHealth::measure(&insight, Some("sigmoid"));
        assert_eq!(
            (sigmoid.dead_fraction, sigmoid.saturated_fraction),
            (None, Some(0.3))
        );
        let tanh = LayerHealth::measure(&insight, Some("tanh"));
        assert_eq!(tanh.saturated_fraction, Some(0.7));
        assert_eq!(LayerHealth::measure(&insight, None), LayerHealth::default());
    }

    #[test]
    fn verdicts_follow_the_thresholds() {
        let t = Thresholds::default();
        let mut layers = vec![
            LayerHealth::from_norms(1e-5, None), // 1e-5 of the last: vanishing
            LayerHealth::from_norms(2e3, None),  // above exploding_norm
            LayerHealth::from_norms(1.0, Some(0.5)), // a step half the weight: exploding
            LayerHealth::from_norms(f64::NAN, None),
            LayerHealth {
                dead_fraction: Some(0.5),
                ..LayerHealth::default()
            },
            LayerHealth::from_norms(1.0, Some(1e-3)),
        ];
        let first_last = judge(&mut layers, &t);
        let verdicts: Vec<Verdict> = layers.iter().map(LayerHealth::verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Vanishing,
                Verdict::Exploding,
                Verdict::Exploding,
                Verdict::NonFinite,
                Verdict::DeadUnits,
                Verdict::Healthy
            ]
        );
        assert_eq!(first_last, Some(1e-5));
        assert_eq!(layers[0].gradient_ratio, Some(1e-5));
        assert_eq!(layers[4].gradient_ratio, None);
    }

    #[test]
    fn the_first_last_ratio_needs_a_finite_nonzero_last_norm() {
        let t = Thresholds::default();
        let mut one = vec![LayerHealth::from_norms(1.0, None)];
        assert_eq!(judge(&mut one, &t), None);
        let mut zero_last = vec![
            LayerHealth::from_norms(1.0, None),
            LayerHealth::from_norms(0.0, None),
        ];
        assert_eq!(judge(&mut zero_last, &t), None);
        assert_eq!(zero_last[0].gradient_ratio, None);
        let mut inf_first = vec![
            LayerHealth::from_norms(f64::INFINITY, None),
            LayerHealth::from_norms(2.0, None),
        ];
        assert_eq!(judge(&mut inf_first, &t), Some(f64::INFINITY));
    }

    #[test]
    fn the_worst_verdict_wins_and_remedies_come_worst_first_once_each() {
        let health = GradientHealth {
            layers: vec![
                LayerHealth {
                    verdicts: vec![Verdict::Vanishing, Verdict::Saturated],
                    ..LayerHealth::default()
                },
                LayerHealth {
                    verdicts: vec![Verdict::Exploding],
                    ..LayerHealth::default()
                },
            ],
            first_last_ratio: None,
            nonfinite: false,
        };
        assert_eq!(health.verdict(), Verdict::Exploding);
        let remedies = health.remedies();
        assert_eq!(remedies[0], Verdict::Exploding.remedies()[0]);
        assert_eq!(remedies.last(), Verdict::Saturated.remedies().last());
        let unique: std::collections::HashSet<_> = remedies.iter().collect();
        assert_eq!(unique.len(), remedies.len());
        assert_eq!(Verdict::worst([]), Verdict::Healthy);
        assert_eq!(Verdict::parse("dead units").unwrap(), Verdict::DeadUnits);
        assert!(Verdict::parse("fine").is_err());
    }

    #[test]
    fn thresholds_are_set_by_name() {
        let mut t = Thresholds::default();
        t.set("vanishing_ratio", 0.9).unwrap();
        assert_eq!(t.vanishing_ratio, 0.9);
        let err = t.set("vanishing", 0.1).unwrap_err().to_string();
        assert!(err.contains("vanishing_ratio"), "{err}");
    }
}
