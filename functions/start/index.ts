import { registerFunction, Runtime } from '../../lib/api/runtime.ts';
import { appFromRuntime } from './app.ts';

registerFunction('start', appFromRuntime(new Runtime()));
