#!/usr/bin/python3
"""make_golden.py: the PixelCNN of model/model.h in PyTorch, on small fixed
sizes, written as a golden file that tests/test_golden.cc compares with.

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_golden.py
Writes tests/data/golden.bin (committed; `make test` never needs PyTorch).

File format (little-endian):
  b"PCNNGOLD", uint32 version (1), uint32 ncases
  per case: int32 channels, filters, depth, head (0 bernoulli, 1 softmax256),
            height, width, batch; uint32 ntensors; then per tensor:
            uint32 len, name (utf-8), uint32 ndim, int32 shape[ndim], float32 data
  tensors: input (N,H,W,C) in [0,1] (also the targets);
           param.<name> every parameter in our layout (conv weights (k,k,cin,cout));
           logits (N,H,W,C*K); loss (1,) summed NLL in nats;
           grad.<name> gradient of loss / N (the training objective);
           nadam_losses (3,) summed NLL before each of 3 NAdam steps on this batch;
           after.<name> the parameters after those 3 steps.
"""
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as Fn

torch.set_default_dtype(torch.float32)


def group_begin(g, c, groups):
    return (g * c) // groups


def group_of(i, c, groups):
    g = 0
    while g + 1 < groups and i >= group_begin(g + 1, c, groups):
        g += 1
    return g


def make_mask(k, cin, cout, mask_type, groups):
    """(cout, cin, k, k) 0/1: the PixelCNN mask of kernels/pcnn_kernels.h"""
    m = torch.zeros(cout, cin, k, k)
    r = k // 2
    for ky in range(k):
        for kx in range(k):
            if ky < r or (ky == r and kx < r):
                m[:, :, ky, kx] = 1
            elif ky == r and kx == r:
                for ci in range(cin):
                    gi = group_of(ci, cin, groups)
                    for co in range(cout):
                        go = group_of(co, cout, groups)
                        m[co, ci, ky, kx] = 1 if (gi < go if mask_type == 'A' else gi <= go) else 0
    return m


class MaskedConv(nn.Conv2d):
    def __init__(self, cin, cout, k, mask_type, groups):
        super().__init__(cin, cout, k, padding=k // 2)
        self.register_buffer('mask', make_mask(k, cin, cout, mask_type, groups))
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x):
        return Fn.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    """names follow model/model.c: in, blocks.d.{prelu1,conv1,conv2,conv3}, out_prelu, out.i, head"""

    def __init__(self, C, F, D, K):
        super().__init__()
        G = 3 if C == 3 else 1
        H = F // 2
        self.C, self.K = C, K
        self.inp = MaskedConv(C, F, 7, 'A', G)
        self.blocks = nn.ModuleList()
        for _ in range(D):
            b = nn.Module()
            b.prelu1 = nn.PReLU(F, 0.25)
            b.conv1 = MaskedConv(F, H, 1, 'B', G)
            b.prelu2 = nn.PReLU(H, 0.25)
            b.conv2 = MaskedConv(H, H, 3, 'B', G)
            b.prelu3 = nn.PReLU(H, 0.25)
            b.conv3 = MaskedConv(H, F, 1, 'B', G)
            self.blocks.append(b)
        self.out_prelu = nn.PReLU(F, 0.25)
        self.out = nn.ModuleList([MaskedConv(F, F, 1, 'B', G) for _ in range(2)])
        self.out_act = nn.ModuleList([nn.PReLU(F, 0.25) for _ in range(2)])
        self.head = MaskedConv(F, C * K, 1, 'B', G)

    def forward(self, x_nhwc):
        x = self.inp(x_nhwc.permute(0, 3, 1, 2))
        for b in self.blocks:
            h = b.prelu2(b.conv1(b.prelu1(x)))
            h = b.prelu3(b.conv2(h))
            x = x + b.conv3(h)
        h = self.out_prelu(x)
        for conv, act in zip(self.out, self.out_act):
            h = act(conv(h))
        return self.head(h).permute(0, 2, 3, 1)  # (N,H,W,C*K)

    def named_ours(self):
        """(our name, tensor, kind) in model.c's order; kind 'conv' = (cout,cin,k,k)"""
        yield 'in.weight', self.inp.weight, 'conv'
        yield 'in.bias', self.inp.bias, 'vec'
        for d, b in enumerate(self.blocks):
            p = f'blocks.{d}.'
            yield p + 'prelu1', b.prelu1.weight, 'vec'
            yield p + 'conv1.weight', b.conv1.weight, 'conv'
            yield p + 'conv1.bias', b.conv1.bias, 'vec'
            yield p + 'conv1.prelu', b.prelu2.weight, 'vec'
            yield p + 'conv2.weight', b.conv2.weight, 'conv'
            yield p + 'conv2.bias', b.conv2.bias, 'vec'
            yield p + 'conv2.prelu', b.prelu3.weight, 'vec'
            yield p + 'conv3.weight', b.conv3.weight, 'conv'
            yield p + 'conv3.bias', b.conv3.bias, 'vec'
        yield 'out_prelu', self.out_prelu.weight, 'vec'
        for i in range(2):
            yield f'out.{i}.weight', self.out[i].weight, 'conv'
            yield f'out.{i}.bias', self.out[i].bias, 'vec'
            yield f'out.{i}.prelu', self.out_act[i].weight, 'vec'
        yield 'head.weight', self.head.weight, 'conv'
        yield 'head.bias', self.head.bias, 'vec'


def ours(t, kind):
    """our layout: conv weights (cout,cin,k,k) -> (k,k,cin,cout)"""
    t = t.detach()  # clone: a contiguous view would see the optimizer's later updates
    return (t.permute(2, 3, 1, 0) if kind == 'conv' else t).contiguous().clone()


def nll(model, x, head):
    logits = model(x)
    if head == 0:
        return logits, Fn.binary_cross_entropy_with_logits(logits, x, reduction='sum')
    N, H, W, _ = x.shape
    l = logits.reshape(N, H, W, model.C, 256)
    target = torch.round(x * 255).long()
    return logits, Fn.cross_entropy(l.reshape(-1, 256), target.reshape(-1), reduction='sum')


def case(C, F, D, head, H, W, N, seed):
    torch.manual_seed(seed)
    K = 256 if head == 1 else 1
    model = PixelCNN(C, F, D, K)
    with torch.no_grad():  # generic slopes, so PReLU gradients are not all alike
        for name, t, kind in model.named_ours():
            if 'prelu' in name:
                t.copy_(0.25 + 0.1 * torch.randn_like(t))
    x = torch.randint(0, 256, (N, H, W, C)).float() / 255
    tensors = [('input', x)]
    tensors += [('param.' + n, ours(t, k)) for n, t, k in model.named_ours()]
    logits, loss = nll(model, x, head)
    (loss / N).backward()
    tensors += [('logits', logits.detach()), ('loss', loss.detach().reshape(1))]
    tensors += [('grad.' + n, ours(t.grad, k)) for n, t, k in model.named_ours()]
    # foreach=True: torch 1.13's default single-tensor NAdam multiplies mu_t into the
    # momentum term's mu_product twice (fixed in torch 2.0); its foreach path is right.
    opt = torch.optim.NAdam(model.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-7,
                            momentum_decay=0.004, foreach=True)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        _, l = nll(model, x, head)
        losses.append(l.item())
        (l / N).backward()
        opt.step()
    tensors.append(('nadam_losses', torch.tensor(losses)))
    tensors += [('after.' + n, ours(t, k)) for n, t, k in model.named_ours()]
    return (C, F, D, head, H, W, N), tensors


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'golden.bin')
    cases = [case(1, 8, 2, 0, 6, 5, 2, 1), case(1, 6, 1, 1, 5, 4, 2, 2),
             case(3, 12, 1, 0, 5, 6, 2, 3), case(3, 6, 1, 1, 4, 4, 2, 4)]
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(b'PCNNGOLD' + struct.pack('<II', 1, len(cases)))
        for cfg, tensors in cases:
            f.write(struct.pack('<7i', *cfg) + struct.pack('<I', len(tensors)))
            for name, t in tensors:
                t = t.detach().float().contiguous()
                b = name.encode()
                f.write(struct.pack('<I', len(b)) + b + struct.pack('<I', t.dim()))
                f.write(struct.pack(f'<{t.dim()}i', *t.shape))
                f.write(t.numpy().astype('<f4').tobytes())
    os.replace(tmp, out)
    print(f'{out}: {len(cases)} cases, {os.path.getsize(out)} bytes')


if __name__ == '__main__':
    main()
