#!/usr/bin/env python3
"""The paper's 32x32 DCGAN (arch 1) and its losses in plain PyTorch, timed per training
iteration. This is the reference the C++ trainer is benchmarked against (bench/bench_trainer.sh):
same model, loss, batch and thread settings, run on Debian's python3-torch (LibTorch 1.13).
Layers and the iteration order follow RMCosGAN's train.py (see shared/reference/rmcosgan.md)."""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RELATIVISTIC = {"rce", "race", "rals", "rahinge", "rmcos"}


class Generator(nn.Module):
    def __init__(self, base=4):
        super().__init__()
        self.base = base
        self.dense = nn.Linear(128, 512 * base * base)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.Conv2d(64, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z):
        return self.net(self.dense(z.view(-1, 128)).view(-1, 512, self.base, self.base))


class Discriminator(nn.Module):
    def __init__(self, cosine_head):
        super().__init__()
        sn = nn.utils.spectral_norm
        layers, cin = [], 3
        for cout, k, s, p in [(64, 3, 1, 1), (64, 4, 2, 1), (128, 3, 1, 1), (128, 4, 2, 1),
                              (256, 3, 1, 1), (256, 4, 2, 1), (512, 3, 1, 1)]:
            layers += [sn(nn.Conv2d(cin, cout, k, s, p)), nn.LeakyReLU(0.1, inplace=True)]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.cosine_head = cosine_head
        if cosine_head:
            self.w = nn.Parameter(torch.empty(1, 512))
            nn.init.xavier_uniform_(self.w)
        else:
            self.dense = nn.Linear(512, 1)

    def forward(self, x):
        f = self.net(x).sum(dim=(2, 3))
        if self.cosine_head:
            return F.linear(F.normalize(f, dim=1), F.normalize(self.w, dim=1)).view(-1)
        return self.dense(f).view(-1)


def d_loss(loss, cr, cf, m, s):
    if loss == "ce":
        return F.binary_cross_entropy(torch.sigmoid(cr), torch.ones_like(cr)) + \
            F.binary_cross_entropy(torch.sigmoid(cf), torch.zeros_like(cf))
    if loss == "ls":
        return ((cr - 1) ** 2).mean() + (cf ** 2).mean()
    if loss == "hinge":
        return F.relu(1 - cr).mean() + F.relu(1 + cf).mean()
    one = torch.ones_like(cr)
    if loss == "rce":
        return F.binary_cross_entropy_with_logits(cr - cf, one)
    if loss == "rmcos":
        return F.binary_cross_entropy_with_logits(s * ((cr - m) - cf), one)
    if loss == "race":
        return (F.binary_cross_entropy_with_logits(cr - cf.mean(), one) +
                F.binary_cross_entropy_with_logits(cf - cr.mean(), 0 * one)) / 2
    if loss == "rals":
        return (((cr - cf.mean() - 1) ** 2).mean() + ((cf - cr.mean() + 1) ** 2).mean()) / 2
    if loss == "rahinge":
        return (F.relu(1 - (cr - cf.mean())).mean() + F.relu(1 + (cf - cr.mean())).mean()) / 2
    raise ValueError(loss)


def g_loss(loss, cr, cf, m, s):
    if loss == "ce":
        return F.binary_cross_entropy(torch.sigmoid(cf), torch.ones_like(cf))
    if loss == "ls":
        return ((cf - 1) ** 2).mean()
    if loss == "hinge":
        return -cf.mean()
    one = torch.ones_like(cf)
    if loss == "rce":
        return F.binary_cross_entropy_with_logits(cf - cr, one)
    if loss == "rmcos":
        return F.binary_cross_entropy_with_logits(s * ((cf - m) - cr), one)
    if loss == "race":
        return (F.binary_cross_entropy_with_logits(cr - cf.mean(), 0 * one) +
                F.binary_cross_entropy_with_logits(cf - cr.mean(), one)) / 2
    if loss == "rals":
        return (((cr - cf.mean() + 1) ** 2).mean() + ((cf - cr.mean() - 1) ** 2).mean()) / 2
    if loss == "rahinge":
        return (F.relu(1 + (cr - cf.mean())).mean() + F.relu(1 - (cf - cr.mean())).mean()) / 2
    raise ValueError(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loss", default="rmcos")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--margin", type=float, default=0.15)
    ap.add_argument("--scale", type=float, default=10.0)
    args = ap.parse_args()

    torch.manual_seed(1)
    G, D = Generator(), Discriminator(args.loss == "rmcos")
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.rand(1024, 3, 32, 32) * 2 - 1
    relativistic = args.loss in RELATIVISTIC
    B, m, s = args.batch, args.margin, args.scale

    def real_batch():
        return data[torch.randperm(data.size(0))[:B]]

    def iteration():
        for p in D.parameters():
            p.requires_grad = True
        D.zero_grad()
        cr = D(real_batch())
        fake = G(torch.randn(B, 128, 1, 1))
        cf = D(fake.detach())
        if relativistic:
            d_loss(args.loss, cr, cf, m, s).backward()
        else:  # the reference backwards the real and fake terms separately
            d_loss(args.loss, cr, cf, m, s).backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad = False
        G.zero_grad()
        cf = D(G(torch.randn(B, 128, 1, 1)))
        cr = D(real_batch()) if relativistic else None
        g_loss(args.loss, cr, cf, m, s).backward()
        opt_g.step()

    for _ in range(args.warmup):
        iteration()
    start = time.perf_counter()
    for _ in range(args.iterations):
        iteration()
    elapsed = time.perf_counter() - start
    print(json.dumps({"implementation": "python", "loss": args.loss, "batch": B,
                      "iterations": args.iterations, "seconds": elapsed,
                      "iterations_per_second": args.iterations / elapsed,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
