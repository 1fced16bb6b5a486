#!/usr/bin/env python3
"""Metrics speed, Python side: the FID Inception-v3 (pytorch-fid's FIDInception layout: avg
pools without counted padding, a max pool in Mixed_7c) in torch.nn on Debian's python3-torch,
timed like bench_metrics.cc; and TTUR/pytorch-fid's scipy sqrtm Fréchet distance of the two
statistics files bench_metrics.cc wrote."""
import json
import sys
import time

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv(nn.Module):
    def __init__(self, i, o, k, s=1, p=0):
        super().__init__()
        self.conv = nn.Conv2d(i, o, k, s, p, bias=False)
        self.bn = nn.BatchNorm2d(o, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def avg(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class A(nn.Module):
    def __init__(self, i, pf):
        super().__init__()
        self.b1, self.b5_1, self.b5_2 = Conv(i, 64, 1), Conv(i, 48, 1), Conv(48, 64, 5, p=2)
        self.d1, self.d2, self.d3 = Conv(i, 64, 1), Conv(64, 96, 3, p=1), Conv(96, 96, 3, p=1)
        self.pool = Conv(i, pf, 1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b5_2(self.b5_1(x)), self.d3(self.d2(self.d1(x))), self.pool(avg(x))], 1)


class B(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.b3 = Conv(i, 384, 3, 2)
        self.d1, self.d2, self.d3 = Conv(i, 64, 1), Conv(64, 96, 3, p=1), Conv(96, 96, 3, 2)

    def forward(self, x):
        return torch.cat([self.b3(x), self.d3(self.d2(self.d1(x))), F.max_pool2d(x, 3, 2)], 1)


class C(nn.Module):
    def __init__(self, i, c7):
        super().__init__()
        self.b1 = Conv(i, 192, 1)
        self.s = nn.Sequential(Conv(i, c7, 1), Conv(c7, c7, (1, 7), p=(0, 3)), Conv(c7, 192, (7, 1), p=(3, 0)))
        self.d = nn.Sequential(Conv(i, c7, 1), Conv(c7, c7, (7, 1), p=(3, 0)), Conv(c7, c7, (1, 7), p=(0, 3)),
                               Conv(c7, c7, (7, 1), p=(3, 0)), Conv(c7, 192, (1, 7), p=(0, 3)))
        self.pool = Conv(i, 192, 1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.s(x), self.d(x), self.pool(avg(x))], 1)


class D(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.t = nn.Sequential(Conv(i, 192, 1), Conv(192, 320, 3, 2))
        self.s = nn.Sequential(Conv(i, 192, 1), Conv(192, 192, (1, 7), p=(0, 3)), Conv(192, 192, (7, 1), p=(3, 0)),
                               Conv(192, 192, 3, 2))

    def forward(self, x):
        return torch.cat([self.t(x), self.s(x), F.max_pool2d(x, 3, 2)], 1)


class E(nn.Module):
    def __init__(self, i, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.b1, self.t1 = Conv(i, 320, 1), Conv(i, 384, 1)
        self.t2a, self.t2b = Conv(384, 384, (1, 3), p=(0, 1)), Conv(384, 384, (3, 1), p=(1, 0))
        self.d1, self.d2 = Conv(i, 448, 1), Conv(448, 384, 3, p=1)
        self.d3a, self.d3b = Conv(384, 384, (1, 3), p=(0, 1)), Conv(384, 384, (3, 1), p=(1, 0))
        self.pool = Conv(i, 192, 1)

    def forward(self, x):
        t, d = self.t1(x), self.d2(self.d1(x))
        p = F.max_pool2d(x, 3, 1, 1) if self.max_pool else avg(x)
        return torch.cat([self.b1(x), self.t2a(t), self.t2b(t), self.d3a(d), self.d3b(d), self.pool(p)], 1)


class FidInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(Conv(3, 32, 3, 2), Conv(32, 32, 3), Conv(32, 64, 3, p=1), nn.MaxPool2d(3, 2),
                                  Conv(64, 80, 1), Conv(80, 192, 3), nn.MaxPool2d(3, 2))
        self.mixed = nn.Sequential(A(192, 32), A(256, 64), A(288, 64), B(288), C(768, 128), C(768, 160),
                                   C(768, 160), C(768, 192), D(768), E(1280, False), E(2048, True))
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        pool3 = self.mixed(self.stem(x)).mean((2, 3))
        return pool3, pool3 @ self.fc.weight.t()


def main():
    batch, batches, stats_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    torch.manual_seed(1)
    net = FidInception().eval()
    x = torch.rand(batch, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        net(x)
        start = time.perf_counter()
        for _ in range(batches):
            net(x)
        inception_s = time.perf_counter() - start

    a, b = np.load(stats_dir + "/a.npz"), np.load(stats_dir + "/b.npz")
    start = time.perf_counter()
    covmean, _ = scipy.linalg.sqrtm(a["sigma"].dot(b["sigma"]), disp=False)
    diff = a["mu"] - b["mu"]
    fid = diff.dot(diff) + np.trace(a["sigma"]) + np.trace(b["sigma"]) - 2 * np.trace(covmean.real)
    fid_s = time.perf_counter() - start
    print(json.dumps({"implementation": "python", "images_per_second": batch * batches / inception_s,
                      "fid": float(fid), "fid_seconds": fid_s, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
