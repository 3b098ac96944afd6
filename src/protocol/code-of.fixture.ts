/**
 * Test helper: the `code` a promise rejects with ('RESOLVED' when it does not,
 * 'NO_CODE' for an error without one), so tests assert codes, not messages.
 */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? 'NO_CODE';
  }
  return 'RESOLVED';
}
