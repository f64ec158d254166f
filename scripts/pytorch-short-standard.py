"""
The README's standard run on the short recipe, in PyTorch instead of Adjoin's engine.

ResNet-18 with the CIFAR stem at width 0.25 (Adjoin's network: channel counts
round(64 * 2**s * 0.25), 1x1 stride-2 shortcut convs, He-normal fan-out
convolutions, PyTorch's default linear init), the first 10,000 Fashion-MNIST
training images standardised by their mean and standard deviation, random
horizontal flips, batch 64 with the last partial batch kept, 10 epochs of
SGD with Nesterov momentum and weight decay 5e-4 under OneCycleLR's defaults
(peak lr 0.05), validated on the full test set on running statistics, one
thread. Prints one JSON line per epoch. Run with Debian's PyTorch:

    /usr/bin/python3 scripts/pytorch-short-standard.py SEED [DATASET_DIR]
"""
import gzip
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 10
BATCH = 64
TRAIN_IMAGES = 10000


def read_idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def js_round(v):
    """JavaScript's Math.round, as Adjoin rounds channel counts: halves go up."""
    return int(math.floor(v + 0.5))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18CifarStem(nn.Module):
    def __init__(self, width, channels, classes):
        super().__init__()
        stem = js_round(64 * width)
        self.stem = nn.Sequential(nn.Conv2d(channels, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU())
        blocks, cin = [], stem
        for stage in range(4):
            cout = js_round(64 * 2**stage * width)
            for k in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and k == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def main(seed, folder):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_x = read_idx(f'{folder}/train-images-idx3-ubyte.gz')[:TRAIN_IMAGES].astype(np.float32) / 255
    train_y = torch.from_numpy(read_idx(f'{folder}/train-labels-idx1-ubyte.gz')[:TRAIN_IMAGES].astype(np.int64))
    test_x = read_idx(f'{folder}/t10k-images-idx3-ubyte.gz').astype(np.float32) / 255
    test_y = torch.from_numpy(read_idx(f'{folder}/t10k-labels-idx1-ubyte.gz').astype(np.int64))
    mean, std = train_x.mean(), train_x.std()
    train_x = torch.from_numpy((train_x - mean) / std)[:, None]
    test_x = torch.from_numpy((test_x - mean) / std)[:, None]

    net = ResNet18CifarStem(0.25, 1, 10)
    steps = math.ceil(TRAIN_IMAGES / BATCH)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=EPOCHS * steps)
    start = time.time()
    for epoch in range(EPOCHS):
        net.train()
        order = torch.from_numpy(rng.permutation(TRAIN_IMAGES))
        loss_sum, correct = 0.0, 0
        for i in range(steps):
            batch = order[i * BATCH : (i + 1) * BATCH]
            x, y = train_x[batch].clone(), train_y[batch]
            flip = torch.from_numpy(rng.random(len(batch)) < 0.5)
            x[flip] = x[flip].flip(3)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(batch)
            correct += (logits.argmax(1) == y).sum().item()
        net.eval()
        with torch.no_grad():
            val_correct = sum((net(test_x[i : i + 500]).argmax(1) == test_y[i : i + 500]).sum().item() for i in range(0, len(test_y), 500))
        report = {'seed': seed, 'epoch': epoch + 1, 'train_loss': loss_sum / TRAIN_IMAGES, 'train_acc': correct / TRAIN_IMAGES}
        print(json.dumps({**report, 'val_acc': val_correct / len(test_y), 'seconds': time.time() - start}), flush=True)


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: pytorch-short-standard.py SEED [DATASET_DIR]')
    main(int(sys.argv[1]), sys.argv[2].rstrip('/') if len(sys.argv) == 3 else '/usr/share/datasets/fashion-mnist')
