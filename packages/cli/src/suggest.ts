/** "Did you mean": the core's (a task file's keys use it too), through its light entry point. */
export { editDistance, closest, didYouMean } from '@synthgrad/core/suggest';
