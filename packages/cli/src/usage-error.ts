/**
 * The CLI's own error for a bad command line. It extends the library's SynthgradError (code
 * E_USAGE, exit 2) and is imported from the light `@synthgrad/core/errors` entry, so a usage error
 * never loads the ML stack.
 */
import { SynthgradError } from '@synthgrad/core/errors';

export class UsageError extends SynthgradError {
  /** `command` names the help to point to ("generate", "model next-token"). */
  constructor(message: string, command?: string) {
    super(command ? `${message}; see "synthgrad ${command} --help"` : message, 'E_USAGE');
  }
}
