/**
 * What backend detection needs of the machine: the native TensorFlow
 * packages, the dynamic loader, the Vulkan drivers and Dawn. Detection
 * (detect.ts) sees only this interface, so tests replace each part with a
 * fake: a GPU present, CUDA libraries missing, a software adapter only.
 */

export type NativePackage = '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node';
export const DAWN_PACKAGE = 'webgpu';

/** Where libtensorflow placed its work once a native package was loaded. */
export interface NativeFacts {
  /** The native binding's own answer: true only when TensorFlow found a CUDA device it can use. */
  isUsingGpuDevice: boolean;
}

/** GPUAdapterInfo, as Dawn reports it. */
export interface AdapterInfoLike {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A fallback adapter is a software one (SwiftShader): it computes on the CPU. */
  readonly isFallbackAdapter?: boolean;
}

/** The part of a GPUAdapter that detection and the backend use. */
export interface AdapterLike {
  readonly info: AdapterInfoLike;
  readonly features: ReadonlySet<string>;
  readonly limits: Readonly<Record<string, unknown>>;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<unknown>;
}

/** navigator.gpu, as Dawn provides it. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance'; forceFallbackAdapter?: boolean }): Promise<AdapterLike | null>;
}

export interface BackendLoaders {
  readonly platform: NodeJS.Platform;
  /** Whether an optional package is installed, without loading it. */
  installed(pkg: string): boolean;
  /** Imports a native TensorFlow package (registering its backend) and reports where it computes; rejects with the import error. */
  loadNative(pkg: NativePackage): Promise<NativeFacts>;
  /** null if the dynamic loader can open this shared library, else its message. */
  openLibrary(name: string): string | null;
  /** The Vulkan driver (ICD) manifests the Vulkan loader would read; Linux only. */
  vulkanDrivers(): string[];
  /** Imports Dawn, installs its WebGPU globals and returns its navigator.gpu; rejects where it cannot load. */
  loadDawn(): Promise<GpuLike>;
}
