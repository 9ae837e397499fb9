/**
 * libtensorflow writes one INFO line ("oneDNN custom operations are on", behind absl's
 * "WARNING: All log messages before absl::InitializeLog() ..." banner) to fd 2 when the native
 * backend loads, before TF_CPP_MIN_LOG_LEVEL applies; nothing in Node can intercept a native
 * write. Tests that read a command's stderr line by line drop those lines, as a consumer must.
 */
// A worker thread that loads the backend again adds cpu_feature_guard's line and its continuation.
const TF_LOG = /^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$/;

export function withoutNativeLog(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !TF_LOG.test(l))
    .join('\n');
}
