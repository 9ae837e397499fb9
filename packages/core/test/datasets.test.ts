import { describe, expect, it } from 'vitest';
import { parseGroundTruth } from '@synthgrad/core';

describe('default data set parsing', () => {
  it('binarises the mean human score by sign and drops near-neutral and malformed lines', () => {
    const content = ['1\t2.27\tThe Rock is destined to be great.', '2\t-0.6\tEffective but too tepid biopic', '3\t0.2\tmeh', 'junk line', '4\tnan\tx', ''].join('\r\n');
    expect(parseGroundTruth(content)).toEqual([
      { text: 'The Rock is destined to be great.', label: 1 },
      { text: 'Effective but too tepid biopic', label: 0 },
    ]);
  });
});
