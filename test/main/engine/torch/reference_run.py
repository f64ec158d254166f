"""Adjoin's short-recipe training steps, taken again by PyTorch as the reference.

Written for Debian's python3-torch (PyTorch 1.13), run with /usr/bin/python3.
The network is defined here, not imported from Adjoin or torchvision:
ResNet-18 with the CIFAR stem (3x3 conv, no max-pool), basic blocks, 1x1
stride-2 shortcut convs, global average pooling and a linear classifier,
channel counts round(64 * 2**s * width). The adjoined (AN) mode runs a small
path beside the full one on the leading floor(C / alpha) output channels of
every compressed conv (every conv from stage 2 on; the stem and stage 1 stay
full unless compressFirstStage), sharing the full path's weights; each batch
norm has a twin per path, with its own scale, shift and running statistics,
normalising that path's tensor with its own batch statistics.

The recipe is PyTorch's own classes: SGD(momentum, nesterov=True,
weight_decay=5e-4) and OneCycleLR with its defaults (pct_start 0.3, div 25,
final_div 1e4, cos annealing, momentum cycled 0.95 -> 0.85 -> 0.95), peak lr
0.05 at batch 64 scaled linearly; the adjoined loss is
CE(y, p) + lambda(t) * KL(p || q) + CE(y, q) with lambda(t) = min(4 t^2, 1),
t = step / total_steps, KL = mean over the batch of
sum p * (log(p + 1e-6) - log(q + 1e-6)), gradients through p and q.

Each step starts from the engine's state before that step (teacher forcing)
and is computed in float64. Two float32 runs of this network part within a
few steps: a ReLU input within float32 rounding of zero opens its gate in
one run and not the other, and one such gate moves a gradient by several per
cent. So for every gate whose input z lies within KINK_BAND of zero, the
script computes how the gradient would move were that gate set the other
way, (new gate - old gate) * dL/da * grad z, and applies the flips that best
explain the engine's own step (read from its state after the step); it
reports each flip applied, with its z. Anything else the engine does
differently stays in the comparison.

Usage: reference_run.py DIR
  DIR/manifest.json  {"recipe": "short", "mode": "standard"|"an", "alpha",
                      "model": {...}, "batchSize", "steps", "totalSteps",
                      "params": [{"name", "shape", "trainable"}, ...]}
  DIR/images.bin     steps batches of NHWC float32 images, already normalised
  DIR/labels.bin     steps batches of int32 labels
  DIR/state-K.bin    the engine's state before step K (K = steps: after the
                     last step), float32: every tensor of the manifest in its
                     order, in Adjoin's layouts (conv [kh, kw, in, out], dense
                     [in, out]); from step 1 on, then the momentum buffer of
                     each trainable tensor
Writes, per step K, DIR/after-K.bin (float64, PyTorch's state after the
step, laid out as state-(K+1).bin), and DIR/result.json (per step: loss, ce,
kl, smallCe, lr, momentum, lambda, nearKinks, flips [{site, index, z}]).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

KL_EPSILON = 1e-6
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1
# A ReLU input this close to zero may lie on the other side in float32. The engine's gates that did were
# within 1e-6 of zero (it sums batch-norm statistics in double); PyTorch's own float32 pass is up to 3.7e-5
# off float64 in this network's last stage.
KINK_BAND = 2e-5

# The short recipe (Adjoin's `--recipe short`), in PyTorch's terms.
SHORT = {
    'peak_lr_at_64': 0.05,
    'weight_decay': 5e-4,
    # SGD's own momentum is replaced by OneCycleLR's cycle at every step.
    'momentum': 0.9,
    'beta': 1.0,
    'c': 1.0,
}


def js_round(v):
    """JavaScript's Math.round for the positive channel counts: halves go up, not to even."""
    return int(math.floor(v + 0.5))


class Relus:
    """The ReLUs of one forward pass, by site: their inputs and outputs, kept to find and weigh the near-kink gates."""

    def __init__(self):
        self.inputs = {}
        self.outputs = {}

    def __call__(self, z, site):
        a = F.relu(z)
        self.inputs[site] = z
        self.outputs[site] = a
        return a


class AdjoinedResNet18:
    """ResNet-18 (CIFAR stem) whose convs may also run on their leading channels (the small path)."""

    def __init__(self, model, alpha):
        if model['arch'] != 'resnet18' or model['stem'] != 'cifar':
            raise ValueError(f"the reference defines resnet18 with the cifar stem only, not {model['arch']} / {model['stem']}")
        self.alpha = alpha
        self.paths = ['full'] if alpha is None else ['full', 'small']
        # name -> (PyTorch shape, trainable)
        self.shapes = {}
        self.small_width = {}
        self.blocks = []
        w = model['width']
        stem = js_round(64 * w)
        self.conv('stem.conv', model['channels'], stem, 3, adjoined=False)
        self.bn('stem.bn', stem, adjoined=False)
        cin = stem
        for s in range(4):
            planes = js_round(64 * 2**s * w)
            adjoined = s > 0 or model['compressFirstStage']
            for k in range(2):
                p = f's{s + 1}.b{k + 1}'
                stride = 2 if s > 0 and k == 0 else 1
                self.conv(f'{p}.conv1', cin, planes, 3, adjoined)
                self.bn(f'{p}.bn1', planes, adjoined)
                self.conv(f'{p}.conv2', planes, planes, 3, adjoined)
                self.bn(f'{p}.bn2', planes, adjoined)
                down = stride != 1 or cin != planes
                if down:
                    self.conv(f'{p}.down.conv', cin, planes, 1, adjoined)
                    self.bn(f'{p}.down.bn', planes, adjoined)
                self.blocks.append((p, stride, down))
                cin = planes
        self.shapes['fc.weight'] = ((model['classes'], cin), True)
        self.shapes['fc.bias'] = ((model['classes'],), True)

    def conv(self, name, cin, cout, k, adjoined):
        self.shapes[f'{name}.weight'] = ((cout, cin, k, k), True)
        self.small_width[name] = cout // self.alpha if adjoined and self.alpha is not None else cout

    def bn(self, name, c, adjoined):
        for path in self.paths:
            n = c // self.alpha if path == 'small' and adjoined else c
            for field, trainable in (('gamma', True), ('beta', True), ('mean', False), ('var', False)):
                self.shapes[f'{name}.{path}.{field}'] = ((n,), trainable)

    def check_names(self, entries):
        given = {e['name']: e for e in entries}
        missing = sorted(set(self.shapes) - set(given))
        extra = sorted(set(given) - set(self.shapes))
        if missing or extra:
            raise ValueError(f'parameters differ from the reference network: missing {missing[:5]}, unknown {extra[:5]}')
        for name, (shape, trainable) in self.shapes.items():
            e = given[name]
            got = to_torch(np.zeros(e['shape'])).shape
            if got != shape or e['trainable'] != trainable:
                raise ValueError(f"{name}: Adjoin's shape {e['shape']} (trainable {e['trainable']}) is {got} here, the reference has {shape} ({trainable})")

    # --- forward, on a dict of tensors (weights and running statistics) by Adjoin's names ----------

    def conv_on(self, t, name, x, path, stride, pad):
        w = t[f'{name}.weight']
        if path == 'small':
            # The small path's filters: the leading outputs, reading the channels its input carries.
            w = w[: self.small_width[name], : x.shape[1]]
        return F.conv2d(x, w, stride=stride, padding=pad)

    @staticmethod
    def bn_on(t, name, x, path):
        # Training mode: this path's batch statistics; its own running statistics move (unbiased variance).
        return F.batch_norm(
            x,
            t[f'{name}.{path}.mean'],
            t[f'{name}.{path}.var'],
            t[f'{name}.{path}.gamma'],
            t[f'{name}.{path}.beta'],
            training=True,
            momentum=BN_MOMENTUM,
            eps=BN_EPSILON,
        )

    def forward(self, t, x, path, relu):
        x = relu(self.bn_on(t, 'stem.bn', self.conv_on(t, 'stem.conv', x, path, 1, 1), path), f'stem.relu.{path}')
        for p, stride, down in self.blocks:
            y = relu(self.bn_on(t, f'{p}.bn1', self.conv_on(t, f'{p}.conv1', x, path, stride, 1), path), f'{p}.relu1.{path}')
            y = self.bn_on(t, f'{p}.bn2', self.conv_on(t, f'{p}.conv2', y, path, 1, 1), path)
            if down:
                shortcut = self.bn_on(t, f'{p}.down.bn', self.conv_on(t, f'{p}.down.conv', x, path, stride, 0), path)
            else:
                # An identity shortcut wider than the small branch (into a compressed stage 1) gives its leading channels.
                shortcut = x[:, : y.shape[1]]
            x = relu(y + shortcut, f'{p}.relu.{path}')
        f = x.mean(dim=(2, 3))
        w = t['fc.weight']
        if path == 'small':
            w = w[:, : f.shape[1]]
        return F.linear(f, w, t['fc.bias'])


def to_torch(a):
    """Adjoin's layouts to PyTorch's: conv [kh, kw, in, out] -> [out, in, kh, kw], dense [in, out] -> [out, in]."""
    if a.ndim == 4:
        return a.transpose(3, 2, 0, 1)
    if a.ndim == 2:
        return a.transpose(1, 0)
    return a


def to_adjoin(a):
    if a.ndim == 4:
        return a.transpose(2, 3, 1, 0)
    if a.ndim == 2:
        return a.transpose(1, 0)
    return a


def kl_divergence(p_logits, q_logits):
    p = F.softmax(p_logits, dim=1)
    q = F.softmax(q_logits, dim=1)
    return (p * (torch.log(p + KL_EPSILON) - torch.log(q + KL_EPSILON))).sum(dim=1).mean()


def adjoined_loss(net, t, x, y, mode, lam, relu):
    """The run's loss and its terms: cross-entropy alone (standard), or the short recipe's adjoined loss."""
    p_logits = net.forward(t, x, 'full', relu)
    ce = F.cross_entropy(p_logits, y)
    if mode == 'standard':
        return ce, {'ce': ce.item(), 'kl': None, 'smallCe': None}
    q_logits = net.forward(t, x, 'small', relu)
    kl = kl_divergence(p_logits, q_logits)
    small_ce = F.cross_entropy(q_logits, y)
    loss = ce + SHORT['c'] * lam * kl + SHORT['beta'] * small_ce
    return loss, {'ce': ce.item(), 'kl': kl.item(), 'smallCe': small_ce.item()}


def gate_effects(net, t, x, y, mode, lam, trainable, relus, upstream):
    """
    Every ReLU gate whose input z lies within KINK_BAND of zero, with how the gradient of the loss would move
    if that gate alone were set the other way: (new gate - old gate) * dL/da * grad z (the rest of the
    backward pass is linear in dL/dz). grad z is taken in float32: it sizes a correction, not the step.
    """
    near = [(site, torch.nonzero(z.abs() < KINK_BAND).tolist()) for site, z in relus.inputs.items()]
    near = [(site, indices) for site, indices in near if indices]
    if not near:
        return []
    # Float32 copies: this pass moves their running statistics, not the step's.
    t32 = {name: v.detach().float().requires_grad_(name in trainable) for name, v in t.items()}
    relus32 = Relus()
    adjoined_loss(net, t32, x.float(), y, mode, lam, relus32)
    params32 = [t32[name] for name in trainable]
    gates = []
    for site, indices in near:
        for index in map(tuple, indices):
            z = relus.inputs[site][index].item()
            sign = -1.0 if z > 0 else 1.0
            weight = sign * upstream[site][index].item()
            grads = torch.autograd.grad(relus32.inputs[site][index], params32, retain_graph=True, allow_unused=True)
            effect = {name: weight * g.double() for name, g in zip(trainable, grads) if g is not None}
            gates.append({'site': site, 'index': list(index), 'z': z, 'effect': effect})
    return gates


def fit_flips(gates, observed, scales):
    """
    The near-kink gates whose flips best explain `observed` (the engine's gradient minus PyTorch's, read from
    the momentum buffers after the step), chosen greedily while one lowers the residual, each tensor measured
    in units of its own scale.
    """
    residual = {name: d / scales[name] for name, d in observed.items()}
    chosen = []
    left = list(range(len(gates)))
    while left:
        best, gain = None, 0.0
        for i in left:
            e = gates[i]['effect']
            # |r|^2 - |r - c|^2 = 2 r.c - |c|^2
            g = sum(float((2 * residual[n] - e[n] / scales[n]).mul(e[n] / scales[n]).sum()) for n in e)
            if g > gain:
                best, gain = i, g
        if best is None:
            break
        for n, c in gates[best]['effect'].items():
            residual[n] -= c / scales[n]
        chosen.append(best)
        left.remove(best)
    return chosen


def read_state(path, entries, with_buffers):
    """The tensors (and momentum buffers) of a state file, by name, in PyTorch's layouts, as float64."""
    flat = np.fromfile(path, dtype='<f4').astype(np.float64)
    sizes = [int(np.prod(e['shape'], dtype=np.int64)) for e in entries]
    trainable = [(e, n) for e, n in zip(entries, sizes) if e['trainable']]
    expected = sum(sizes) + (sum(n for _, n in trainable) if with_buffers else 0)
    if flat.size != expected:
        raise ValueError(f'{path} has {flat.size} floats, the manifest names {expected}')
    at = 0
    values, buffers = {}, {}
    for e, n in zip(entries, sizes):
        values[e['name']] = torch.from_numpy(np.ascontiguousarray(to_torch(flat[at : at + n].reshape(e['shape']))))
        at += n
    if with_buffers:
        for e, n in trainable:
            buffers[e['name']] = torch.from_numpy(np.ascontiguousarray(to_torch(flat[at : at + n].reshape(e['shape']))))
            at += n
    return values, buffers


def write_flat(path, arrays):
    np.concatenate([to_adjoin(a).reshape(-1) for a in arrays]).astype('<f8').tofile(path)


def main(folder):
    with open(os.path.join(folder, 'manifest.json')) as f:
        manifest = json.load(f)
    if manifest['recipe'] != 'short':
        raise ValueError(f"the reference runs the short recipe only, not {manifest['recipe']}")
    mode = manifest['mode']
    if mode not in ('standard', 'an'):
        raise ValueError(f'mode must be standard or an, not {mode}')
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    model = manifest['model']
    entries = manifest['params']
    net = AdjoinedResNet18(model, manifest['alpha'] if mode == 'an' else None)
    net.check_names(entries)
    t = {name: torch.zeros(shape, requires_grad=trainable) for name, (shape, trainable) in net.shapes.items()}
    trainable = [e['name'] for e in entries if e['trainable']]
    params = [t[name] for name in trainable]

    steps, total, batch = manifest['steps'], manifest['totalSteps'], manifest['batchSize']
    size, channels = model['inputSize'], model['channels']
    images = np.fromfile(os.path.join(folder, 'images.bin'), dtype='<f4').reshape(steps, batch, size, size, channels)
    labels = np.fromfile(os.path.join(folder, 'labels.bin'), dtype='<i4').reshape(steps, batch)

    peak = SHORT['peak_lr_at_64'] * batch / 64
    optimizer = torch.optim.SGD(params, lr=peak, momentum=SHORT['momentum'], nesterov=True, weight_decay=SHORT['weight_decay'])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=total)

    out = []
    for s in range(steps):
        # The engine's state before this step; at step 0 PyTorch starts the momentum buffers itself.
        values, buffers = read_state(os.path.join(folder, f'state-{s}.bin'), entries, with_buffers=s > 0)
        with torch.no_grad():
            for name, v in values.items():
                t[name].copy_(v)
        if s > 0:
            for name, p in zip(trainable, params):
                optimizer.state[p]['momentum_buffer'] = buffers[name]
        x = torch.from_numpy(np.ascontiguousarray(images[s].transpose(0, 3, 1, 2))).double()
        y = torch.from_numpy(labels[s].astype(np.int64))
        group = optimizer.param_groups[0]
        lam = min(4 * (s / total) ** 2, 1.0) if mode == 'an' else None

        relus = Relus()
        loss, terms = adjoined_loss(net, t, x, y, mode, lam, relus)
        sites = list(relus.outputs)
        grads = torch.autograd.grad(loss, params + [relus.outputs[site] for site in sites])
        upstream = dict(zip(sites, grads[len(params) :]))
        gates = gate_effects(net, t, x, y, mode, lam, trainable, relus, upstream)
        lr, momentum = group['lr'], group['momentum']
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        schedule.step()

        # The engine's own step from the same state: which near-kink gates did float32 set the other way?
        engine, engine_buffers = read_state(os.path.join(folder, f'state-{s + 1}.bin'), entries, with_buffers=True)
        buffers_after = {name: optimizer.state[p]['momentum_buffer'] for name, p in zip(trainable, params)}
        observed = {name: engine_buffers[name] - buffers_after[name] for name in trainable}
        scales = {name: max(float(b.abs().max()), 1e-30) for name, b in buffers_after.items()}
        flips = fit_flips(gates, observed, scales)
        with torch.no_grad():
            for i in flips:
                for name, c in gates[i]['effect'].items():
                    # Nesterov: the buffer moves by the gradient's change, the weight by -lr (1 + m) times it.
                    buffers_after[name] = buffers_after[name] + c
                    t[name] -= lr * (1 + momentum) * c
        out.append(
            {
                'loss': loss.item(),
                **terms,
                'lr': lr,
                'momentum': momentum,
                'lambda': lam,
                'nearKinks': len(gates),
                'flips': [{k: gates[i][k] for k in ('site', 'index', 'z')} for i in flips],
            }
        )
        after = [t[e['name']].detach().numpy() for e in entries] + [buffers_after[name].numpy() for name in trainable]
        write_flat(os.path.join(folder, f'after-{s}.bin'), after)

    with open(os.path.join(folder, 'result.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'steps': out}, f)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: reference_run.py DIR')
    main(sys.argv[1])
