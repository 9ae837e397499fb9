/** An error caused by input the user can fix (a file, a flag, a value); the CLI prints only its message. */
export class SynthgradError extends Error {
  constructor(message: string, readonly code: string = 'E_INPUT') {
    super(message);
    this.name = 'SynthgradError';
  }
}
