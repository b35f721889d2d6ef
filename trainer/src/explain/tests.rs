use super::cam::{CamMethod, explain_batch};
use super::regions::{dice, find_rois, rois_geojson};
use super::slide_map::{Cell, SlideMap, TruthMask, pointing_hit};
use crate::model::{Arch, Network};
use tch::{Device, Kind, Tensor, nn::VarStore};

#[test]
fn cam_equals_grad_cam_for_a_global_average_pooled_linear_head() {
    let _rng = crate::model::seed_torch(3);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), Arch::ResNet18, 2);
    // A head whose class-0 row is all ones: the features after the last ReLU are non-negative,
    // so that CAM is positive somewhere whatever the (shared, racy) global seed gave the rest.
    let fc = vs.variables().remove("fc.weight").unwrap();
    tch::no_grad(|| {
        let _ = fc.get(0).fill_(1.0);
    });
    let x = Tensor::randn([3, 3, 96, 96], (Kind::Float, Device::Cpu));
    for class in 0..2 {
        let cam = explain_batch(&net, &vs, Arch::ResNet18, &x, class, CamMethod::Cam).unwrap();
        let grad = explain_batch(&net, &vs, Arch::ResNet18, &x, class, CamMethod::GradCam).unwrap();
        for (a, b) in cam.iter().zip(&grad) {
            assert_eq!((a.height, a.width), (3, 3));
            assert_eq!(a.probs, b.probs);
            let worst = a.map.iter().zip(&b.map).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "class {class}: CAM and Grad-CAM differ by {worst}");
            if class == 0 {
                assert!(a.map.iter().any(|v| *v > 0.99), "normalised map reaches 1");
            }
        }
    }
}

#[test]
fn grad_cam_runs_on_vgg19_and_cam_is_refused_there() {
    let _rng = crate::model::seed_torch(4);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), Arch::Vgg19, 2);
    let x = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    let g = explain_batch(&net, &vs, Arch::Vgg19, &x, 1, CamMethod::GradCam).unwrap();
    // The last convolutional block, before the fifth pooling: 64 px / 16.
    assert_eq!((g[0].height, g[0].width), (4, 4));
    assert!((g[0].probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let err = explain_batch(&net, &vs, Arch::Vgg19, &x, 1, CamMethod::Cam).unwrap_err().to_string();
    assert!(err.contains("Grad-CAM"), "{err}");
    assert!(explain_batch(&net, &vs, Arch::Vgg19, &x, 2, CamMethod::GradCam).is_err(), "class out of range");
}

fn cell(col: u64, row: u64, prob: f32) -> Cell {
    let cam =
        super::cam::PatchCam { probs: vec![1.0 - prob, prob], map: vec![0.0, 0.0, 0.0, 1.0], height: 2, width: 2 };
    Cell { x0: 1000 + col * 100, y0: 500 + row * 100, cam, prob }
}

#[test]
fn regions_are_connected_hot_patches_scored_and_exported() {
    // Two hot groups (3 patches and 1 patch) and cold patches around.
    let cells =
        vec![cell(0, 0, 0.9), cell(1, 0, 0.8), cell(1, 1, 0.7), cell(3, 1, 0.95), cell(2, 0, 0.1), cell(0, 1, 0.2)];
    let map = SlideMap::new(cells, 100).unwrap();
    assert_eq!((map.cols, map.rows), (4, 2));
    let rois = find_rois(&map, 0.5, 0.25);
    assert_eq!(rois.len(), 2);
    assert_eq!(rois[0].patches, 3, "the larger region ranks first");
    assert!((rois[0].mean_probability - 0.8).abs() < 1e-6);
    assert_eq!(rois[1].max_probability, 0.95);
    assert!((rois[0].area_mm2 - 3.0 * 0.025f64.powi(2)).abs() < 1e-12);
    let geo = rois_geojson(&map, &rois, "Melanoma ROI");
    let f = &geo["features"][0];
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    // Row 0 holds a run of two patches, row 1 one patch: two rectangles.
    let polys = f["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(polys.len(), 2);
    assert_eq!(polys[0][0][0], serde_json::json!([1000, 500]));
    assert_eq!(polys[0][0][1], serde_json::json!([1200, 500]));
    assert_eq!(f["properties"]["classification"]["name"], "Melanoma ROI");

    // Truth: the lesion covers level-0 x 1000..1200, y 500..600 (mask at 100 px per mask px... 1 µm).
    let truth = TruthMask {
        width: 20,
        height: 10,
        um_per_px: 25.0,
        data: (0..200)
            .map(|i| if (10..12).contains(&(i % 20)) && (5..6).contains(&(i / 20)) { 255 } else { 0 })
            .collect(),
    };
    // ROI cells: (0,0),(1,0),(1,1),(3,1); lesion cells: (0,0),(1,0): Dice = 2·2/(4+2).
    let d = dice(&map, &rois, &truth, 0.25).unwrap();
    assert!((d - 4.0 / 6.0).abs() < 1e-9, "{d}");
    // Pointing game on a heat image: hottest pixel inside, then outside, the lesion.
    let mut heat = vec![0.0f32; 20 * 10];
    heat[5 * 20 + 10] = 1.0;
    assert_eq!(pointing_hit(&heat, 20, 25.0, 0.25, &truth), Some(true));
    heat[0] = 2.0;
    assert_eq!(pointing_hit(&heat, 20, 25.0, 0.25, &truth), Some(false));
    assert_eq!(pointing_hit(&[-1.0; 4], 2, 25.0, 0.25, &truth), None, "nothing explained");
}
