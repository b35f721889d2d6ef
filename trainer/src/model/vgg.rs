//! VGG19 with torchvision's parameter names (`features.N`, `classifier.0/3/6`) and its
//! 7×7 adaptive average pooling, so any input size from 224 px up works (the study's 256 px
//! fields give an 8×8 map before pooling).

use tch::Tensor;
use tch::nn;

/// Convolution widths of VGG19; `None` is a 2×2 max-pool.
const CONFIG: [Option<i64>; 21] = [
    Some(64),
    Some(64),
    None,
    Some(128),
    Some(128),
    None,
    Some(256),
    Some(256),
    Some(256),
    Some(256),
    None,
    Some(512),
    Some(512),
    Some(512),
    Some(512),
    None,
    Some(512),
    Some(512),
    Some(512),
    Some(512),
    None,
];

#[derive(Debug)]
pub struct Vgg19 {
    /// Convolutions, each followed by ReLU; `true` after one that a max-pool follows.
    convs: Vec<(nn::Conv2D, bool)>,
    classifier: [nn::Linear; 3],
    pub feature_channels: i64,
}

impl Vgg19 {
    pub fn new(p: &nn::Path, classes: i64) -> Self {
        let f = p / "features";
        let mut convs: Vec<(nn::Conv2D, bool)> = Vec::new();
        let (mut index, mut c_in) = (0, 3);
        for v in CONFIG {
            match v {
                Some(c) => {
                    let cfg = nn::ConvConfig { padding: 1, ..Default::default() };
                    convs.push((nn::conv2d(&f / index.to_string(), c_in, c, 3, cfg), false));
                    (c_in, index) = (c, index + 2);
                }
                None => {
                    if let Some(last) = convs.last_mut() {
                        last.1 = true;
                    }
                    index += 1;
                }
            }
        }
        let c = p / "classifier";
        Self {
            convs,
            classifier: [
                nn::linear(&c / "0", 512 * 7 * 7, 4096, Default::default()),
                nn::linear(&c / "3", 4096, 4096, Default::default()),
                nn::linear(&c / "6", 4096, classes, Default::default()),
            ],
            feature_channels: 512,
        }
    }

    /// The last convolutional feature map (after its ReLU, before the last max-pool:
    /// N×512×H/16×W/16) and the logits.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut y = x.shallow_clone();
        let mut features = None;
        let last = self.convs.len() - 1;
        for (i, (conv, pool)) in self.convs.iter().enumerate() {
            y = y.apply(conv).relu();
            if i == last {
                features = Some(y.shallow_clone());
            }
            if *pool {
                y = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        let [fc0, fc3, fc6] = &self.classifier;
        let logits = y
            .adaptive_avg_pool2d([7, 7])
            .flatten(1, -1)
            .apply(fc0)
            .relu()
            .dropout(0.5, train)
            .apply(fc3)
            .relu()
            .dropout(0.5, train)
            .apply(fc6);
        (features.unwrap_or(y), logits)
    }
}
