//! The weights and the forward pass: BERT's last hidden state (Devlin et al.,
//! <https://arxiv.org/abs/1810.04805>) mean-pooled over each text's tokens and L2-normalised,
//! as sentence-transformers' `Pooling(mean)` + `Normalize` modules do (<https://www.sbert.net/>).

use super::bert::{Bert, mean_pool_normalize};
use super::{DIMS, EmbedError};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// BERT's activation in the MLP (`hidden_act` of Hugging Face's `BertConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub(super) enum HiddenAct {
    /// The exact GELU (erf form).
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU's tanh approximation.
    #[serde(
        alias = "gelu_new",
        alias = "gelu_pytorch_tanh",
        rename = "gelu_approximate"
    )]
    GeluApproximate,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
}

/// The fields of Hugging Face's BERT `config.json` the encoder reads
/// (<https://huggingface.co/docs/transformers/model_doc/bert#transformers.BertConfig>).
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Config {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// The MLP's activation.
    pub hidden_act: HiddenAct,
    /// Positions with an embedding: the hard limit on tokens per text.
    pub max_position_embeddings: usize,
    /// Token-type (segment) vocabulary size.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
}

fn two() -> usize {
    2
}

fn bert_eps() -> f64 {
    1e-12
}

/// The subset of `config.json` checked here besides what the BERT encoder reads.
pub(super) struct BertConfig {
    /// Positions the model has embeddings for (512): the hard limit on tokens per text.
    pub max_position_embeddings: usize,
    /// The whole configuration, for the BERT encoder.
    pub bert: Config,
}

impl BertConfig {
    /// Reads `config.json` in `dir`.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`], or [`EmbedError::Load`] if it is not a BERT config with
    /// [`DIMS`] hidden units.
    pub(super) fn open(dir: &Path) -> Result<Self, EmbedError> {
        let path = dir.join("config.json");
        let bert: Config = read_json(&path)?;
        if bert.hidden_size != DIMS {
            return Err(EmbedError::Load {
                path,
                detail: format!("hidden_size is {}, expected {DIMS}", bert.hidden_size),
            });
        }
        Ok(Self {
            max_position_embeddings: bert.max_position_embeddings,
            bert,
        })
    }
}

/// `pooling_config.json` (sentence-transformers `1_Pooling/config.json`).
#[derive(serde::Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: usize,
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EmbedError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(EmbedError::Load {
                path: path.to_path_buf(),
                detail: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text).map_err(|e| EmbedError::Load {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The loaded model, owned by the worker thread.
pub(super) struct Model {
    bert: Bert,
    dir: PathBuf,
}

impl Model {
    /// Loads the weights from `dir/model.safetensors` (memory-mapped while read; candle
    /// copies each tensor out, and the matrices are kept as f16: about 44 MiB in all, see
    /// [`Model::weight_bytes`]).
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] for any of the model files, [`EmbedError::Load`] if one is
    /// unreadable or the pooling is not plain mean pooling over [`DIMS`] dimensions.
    pub(super) fn open(dir: &Path) -> Result<Self, EmbedError> {
        super::Embedder::check_files(dir)?;
        let config = BertConfig::open(dir)?;
        let pooling_path = dir.join("pooling_config.json");
        let pooling: PoolingConfig = read_json(&pooling_path)?;
        if !pooling.pooling_mode_mean_tokens
            || pooling.pooling_mode_cls_token
            || pooling.pooling_mode_max_tokens
            || pooling.pooling_mode_mean_sqrt_len_tokens
            || pooling.word_embedding_dimension != DIMS
        {
            return Err(EmbedError::Load {
                path: pooling_path,
                detail: format!("only mean pooling over {DIMS} dimensions is supported"),
            });
        }
        let weights = dir.join("model.safetensors");
        let load_err = |e: candle_core::Error| EmbedError::Load {
            path: weights.clone(),
            detail: e.to_string(),
        };
        // SAFETY: the map is read only while this function runs (candle copies every tensor
        // out of it) and Hearth never writes the model files in place: `hearth models pull`
        // writes a temporary file and renames it over the old one, which leaves the mapped
        // inode intact. Another program truncating the file meanwhile could fault the read.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu)
                .map_err(load_err)?
        };
        let bert = Bert::load(vb, &config.bert).map_err(load_err)?;
        Ok(Self {
            bert,
            dir: dir.to_path_buf(),
        })
    }

    /// Bytes of the weights held on the heap.
    pub(super) fn weight_bytes(&self) -> usize {
        self.bert.weight_bytes()
    }

    /// Embeds token sequences in one forward pass (padded to the longest; padding is masked
    /// out). Returns one unit vector of [`DIMS`] floats per sequence.
    ///
    /// # Errors
    /// [`EmbedError::Compute`] if candle fails.
    pub(super) fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.forward(seqs).map_err(|e| EmbedError::Compute {
            model_dir: self.dir.clone(),
            detail: e.to_string(),
        })
    }

    fn forward(&self, seqs: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = seqs.len();
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if n == 0 || len == 0 {
            return Ok(vec![vec![0.0; DIMS]; n]);
        }
        let mut ids = vec![0u32; n * len];
        for (i, s) in seqs.iter().enumerate() {
            ids[i * len..i * len + s.len()].copy_from_slice(s);
        }
        let dev = &Device::Cpu;
        let ids = Tensor::from_vec(ids, (n, len), dev)?;
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        // Padding gets a large negative attention score (exp underflows to exactly 0), as
        // Hugging Face's extended attention mask does; no mask at all when nothing is padded.
        let mask = if lens.iter().all(|&l| l == len) {
            None
        } else {
            let mut m = vec![0f32; n * len];
            for (i, &l) in lens.iter().enumerate() {
                m[i * len + l..(i + 1) * len].fill(f32::MIN);
            }
            Some(Tensor::from_vec(m, (n, 1, 1, len), dev)?)
        };
        let hidden = self.bert.forward(&ids, mask.as_ref())?;
        mean_pool_normalize(&hidden, &lens)
    }
}
