import './base.css';
import './view.css';
import './live.css';
import './orchestration.css';
