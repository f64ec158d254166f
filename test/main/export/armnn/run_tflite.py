"""Runs a .tflite model with Arm NN's TfLite parser on its CpuRef backend.

An independent reader for Adjoin's TFLite writer: Debian's python3-pyarmnn
(Arm NN 20.08), a different parser and different kernels from LiteRT.

Usage: run_tflite.py MODEL INPUTS OUTPUT
  INPUTS  raw little-endian float32, N images of the model's input shape
  OUTPUT  written as raw little-endian float32 logits, N rows
Prints one JSON line: the input and output tensors the parser saw.
"""
import json
import sys

import numpy as np
import pyarmnn as ann


def main(model_path, inputs_path, output_path):
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model_path)
    graph = 0
    input_name = parser.GetSubgraphInputTensorNames(graph)[0]
    output_names = parser.GetSubgraphOutputTensorNames(graph)
    input_info = parser.GetNetworkInputBindingInfo(graph, input_name)
    # Every output must be bound; the logits are the one compared.
    output_infos = [parser.GetNetworkOutputBindingInfo(graph, n) for n in output_names]
    logits = output_names.index('logits')

    runtime = ann.IRuntime(ann.CreationOptions())
    optimized, _ = ann.Optimize(network, [ann.BackendId('CpuRef')], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(optimized)

    shape = [input_info[1].GetShape()[i] for i in range(input_info[1].GetNumDimensions())]
    per = int(np.prod(shape))
    images = np.fromfile(inputs_path, dtype='<f4').reshape(-1, per)
    dtype = input_info[1].GetDataType()
    rows = []
    for image in images:
        data = image.reshape(shape)
        if dtype != ann.DataType_Float32:
            scale = input_info[1].GetQuantizationScale()
            offset = input_info[1].GetQuantizationOffset()
            data = np.clip(np.round(data / scale + offset), 0, 255).astype(np.uint8)
        inputs = ann.make_input_tensors([input_info], [data])
        outputs = ann.make_output_tensors(output_infos)
        runtime.EnqueueWorkload(net_id, inputs, outputs)
        rows.append(np.asarray(ann.workload_tensors_to_ndarray(outputs)[logits], dtype='<f4').reshape(-1))
    np.stack(rows).astype('<f4').tofile(output_path)
    print(json.dumps({'input': input_name, 'shape': shape, 'outputs': output_names, 'images': len(rows)}))


if __name__ == '__main__':
    main(*sys.argv[1:4])
