"""Which autocast dtype a run computes in, and which of them train with a loss scaler."""

import warnings

import torch

from flowfm_edge.training.precision import autocast_dtype, grad_scaler


def test_fp16_trains_with_a_grad_scaler_bf16_and_fp32_without():
    cpu = torch.device("cpu")
    scaler = grad_scaler(autocast_dtype("fp16", cpu), cpu)
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    assert grad_scaler(autocast_dtype("bf16", cpu), cpu) is None
    assert grad_scaler(autocast_dtype("off", cpu), cpu) is None


def test_auto_on_a_gpu_without_bf16_is_fp16_with_a_scaler():
    cuda = torch.device("cuda")
    dtype = autocast_dtype("auto", cuda)
    assert dtype is (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where CUDA is absent, GradScaler("cuda") warns and disables itself
        scaler = grad_scaler(dtype, cuda)
    assert isinstance(scaler, torch.amp.GradScaler) if dtype is torch.float16 else scaler is None
