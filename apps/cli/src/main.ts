import { run } from './program';

// The exit code is set, not forced: stdout (a big JSON list into a pipe) is flushed before the process ends.
run(process.argv).then((code) => {
  process.exitCode = code;
});
