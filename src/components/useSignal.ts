import { ISignal } from '@lumino/signaling';
import { useEffect, useReducer } from 'react';

/** Re-render the calling component each time `signal` is emitted. */
export function useSignalRerender<T>(signal: ISignal<T, any> | null): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!signal) {
      return;
    }
    const slot = () => bump();
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}
