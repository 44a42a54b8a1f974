/** The error `fn` throws, checked to be a `type`; fails the test if it throws nothing or something else. */
export function thrownBy<E>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error('did not throw');
}
