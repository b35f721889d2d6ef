//! ResNet18 and ResNet50 (torchvision v1.5: stride on the 3×3 convolution of a bottleneck),
//! with torchvision's parameter names so its state dicts load unchanged.

use tch::Tensor;
use tch::nn;

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    nn::conv2d(p, c_in, c_out, k, nn::ConvConfig { stride, padding, bias: false, ..Default::default() })
}

#[derive(Debug)]
struct Downsample {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl Downsample {
    fn new(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let d = p / "downsample";
        Self {
            conv: conv(&d / "0", c_in, c_out, 1, stride, 0),
            bn: nn::batch_norm2d(&d / "1", c_out, Default::default()),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).apply_t(&self.bn, train)
    }
}

/// One residual block: two 3×3 convolutions (basic) or 1×1, 3×3, 1×1 (bottleneck).
#[derive(Debug)]
struct Block {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<Downsample>,
}

impl Block {
    fn basic(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let convs = vec![
            (conv(p / "conv1", c_in, c_out, 3, stride, 1), nn::batch_norm2d(p / "bn1", c_out, Default::default())),
            (conv(p / "conv2", c_out, c_out, 3, 1, 1), nn::batch_norm2d(p / "bn2", c_out, Default::default())),
        ];
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample::new(p, c_in, c_out, stride));
        Self { convs, downsample }
    }

    fn bottleneck(p: &nn::Path, c_in: i64, width: i64, stride: i64) -> Self {
        let c_out = width * 4;
        let convs = vec![
            (conv(p / "conv1", c_in, width, 1, 1, 0), nn::batch_norm2d(p / "bn1", width, Default::default())),
            (conv(p / "conv2", width, width, 3, stride, 1), nn::batch_norm2d(p / "bn2", width, Default::default())),
            (conv(p / "conv3", width, c_out, 1, 1, 0), nn::batch_norm2d(p / "bn3", c_out, Default::default())),
        ];
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample::new(p, c_in, c_out, stride));
        Self { convs, downsample }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut y = x.shallow_clone();
        for (i, (c, bn)) in self.convs.iter().enumerate() {
            y = y.apply(c).apply_t(bn, train);
            if i != last {
                y = y.relu();
            }
        }
        let shortcut = match &self.downsample {
            Some(d) => d.forward_t(x, train),
            None => x.shallow_clone(),
        };
        (y + shortcut).relu()
    }
}

/// A ResNet backbone with its `fc` head.
#[derive(Debug)]
pub struct ResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: Vec<Vec<Block>>,
    pub fc: nn::Linear,
    pub feature_channels: i64,
}

impl ResNet {
    /// `bottleneck` false: ResNet18-style basic blocks; true: ResNet50-style bottlenecks.
    pub fn new(p: &nn::Path, blocks: [usize; 4], bottleneck: bool, classes: i64) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let mut c_in = 64;
        let mut layers = Vec::new();
        for (li, (&n, width)) in blocks.iter().zip([64, 128, 256, 512]).enumerate() {
            let lp = p / format!("layer{}", li + 1);
            let mut layer = Vec::new();
            for b in 0..n {
                let stride = if b == 0 && li > 0 { 2 } else { 1 };
                let bp = &lp / b.to_string();
                let block = if bottleneck {
                    Block::bottleneck(&bp, c_in, width, stride)
                } else {
                    Block::basic(&bp, c_in, width, stride)
                };
                c_in = width * expansion;
                layer.push(block);
            }
            layers.push(layer);
        }
        Self {
            conv1: conv(p / "conv1", 3, 64, 7, 2, 3),
            bn1: nn::batch_norm2d(p / "bn1", 64, Default::default()),
            layers,
            fc: nn::linear(p / "fc", c_in, classes, Default::default()),
            feature_channels: c_in,
        }
    }

    /// The last convolutional feature map (N×C×H/32×W/32) and the logits.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut y =
            x.apply(&self.conv1).apply_t(&self.bn1, train).relu().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for layer in &self.layers {
            for block in layer {
                y = block.forward_t(&y, train);
            }
        }
        let logits = y.mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float).apply_t(&self.fc, train);
        (y, logits)
    }
}
