import { Runtime } from '../../lib/api/runtime.ts';
import { registerFunction } from '../../lib/http/functions-framework.ts';
import { appFromRuntime } from './app.ts';

registerFunction('auth', appFromRuntime(new Runtime()));
