/**
 * tfjs-core's Node build registers no gradient functions; the union package @tensorflow/tfjs
 * does (into the same global registry), so importing it once for its side effect makes autodiff
 * work on every backend. It is pure JavaScript and installs offline.
 */
import '@tensorflow/tfjs';
